package main

import (
	"html/template"
	"net/http"
)

// The privacy and terms pages the Teams app package links to (Teams requires both URLs, and a
// link that answers 404 fails store validation and users' trust). They say what this service
// does with data, as the code does it; an organization with its own pages points the package at
// them with `elevate manifest teams -privacy-url … -terms-url …`.

var legalTmpl = template.Must(template.New("legal").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Elevate — {{.Title}}</title>
<style>body{font-family:system-ui,sans-serif;max-width:42rem;margin:2rem auto;padding:0 1rem;line-height:1.5}</style>
</head><body><h1>Elevate — {{.Title}}</h1>
{{range .Paras}}<p>{{.}}</p>
{{end}}</body></html>
`))

type legal struct {
	Title string
	Paras []string
}

var privacyPage = legal{Title: "Privacy", Paras: []string{
	"This Elevate service is run by your organization, on its own infrastructure, to activate Microsoft Entra PIM roles from Slack or Microsoft Teams. The Elevate project receives nothing from it.",
	"What it keeps, in its own store: each elevation request (who asked, for which role, how long, the justification and ticket reference), approvals and denials with their reasons, the link between a chat account and the Microsoft Entra account that signed in for it, where to reach people and channels in chat (conversation and message references), scheduled work such as access-review answers, and a tamper-evident audit log of all of this.",
	"What it does not keep: Microsoft sign-in tokens are held in memory only, for as long as the request needs them, and never written to disk or logs. Chat email addresses are used only as a sign-in hint and to reach people for reviews, never to decide who someone is.",
	"Where data goes: Microsoft Graph in your organization's tenant (your own PIM activations, with your own sign-in), and the chat platform you use (Slack or Microsoft Teams) for the messages you see. Questions about this service go to the team that runs it in your organization.",
}}

var termsPage = legal{Title: "Terms of use", Paras: []string{
	"This Elevate service is provided by your organization for its own staff, to request and approve just-in-time administrator roles through Microsoft Entra PIM. Using it is subject to your organization's policies for privileged access.",
	"Every activation is your own PIM activation, made with your own Microsoft sign-in: Microsoft Entra enforces the role's rules (MFA, justification, approval, maximum duration) and records it under your name. Do not share sign-in links, and approve only requests you have checked.",
	"Elevate is open-source software provided as is, without warranty; the team that runs it in your organization is responsible for this service.",
}}

// legalPage serves one of the pages.
func legalPage(p legal) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
		_ = legalTmpl.Execute(w, p)
	}
}
