// Package teams is Elevate's Microsoft Teams adapter: the Bot Framework endpoint
// (/api/messages), Adaptive Card rendering, and proactive posts through the Bot Connector.
//
// It uses msbotbuilder-go v0.2.5 for its schema types and its adapter shell only. The library
// is unmaintained and its security-relevant parts are unsafe, so this package brings its own:
//
//   - Validator checks every activity's JWT against the Bot Framework's OpenID keys (cached,
//     refetched on an unknown key id at most once a minute, a few seconds after a failed fetch;
//     the fetch runs with its own context and timeout, outside the lock), the issuer, the
//     audience (our app id), the expiry with 5 minutes' leeway, the serviceurl claim and the
//     key's endorsement for the channel; it never panics and refuses to exist without an app id.
//   - Activities from any tenant but ours are refused after the token check; only then is the
//     sender's aadObjectId passed to the core as the Entra user (bot.Actor.UserID).
//   - An activity's serviceUrl must be https on an allowed host (ServiceURLs: the Bot
//     Framework's public and US government hosts unless configured); one that is not is
//     refused before anything of it is kept, and the Connector sends nothing, the bot's token
//     included, to any other URL. An activity id already handled (kept in the store for the
//     Bot Connector token's lifetime) is acknowledged and ignored.
//   - Connector posts (returning the activity id), updates, opens 1:1 chats and reads members,
//     with Retry-After on 429. Its token comes from the bot's Credential (credential.go): a
//     client secret (TokenSource), a certificate, or a workload or managed identity through
//     azidentity; single-tenant bots from their tenant, multi-tenant ones from botframework.com.
//   - Card actions are Universal Actions (Action.Execute, answered in the invoke response with
//     the live card, refresh.userIds for the approvers) with Action.Submit as the fallback.
//
// It implements the core's optional capabilities: bot.Uploader embeds images (the digest's
// chart) in the card as data: URLs, within Teams' activity size, and bot.UserFinder finds a
// user who never wrote to Elevate by Entra object id or UPN among the members of the teams it
// is installed in (cached), so review prompts reach them. Every button other than Approve and
// Deny (review Keep / Remove) goes to the core's Click; the invoke response carries the core's
// answer. The sender's UPN, from a member lookup on first contact (cached), is passed to the
// core as bot.Actor.EmailHint: a login hint, never identity.
//
// Conversation references are captured from every activity (installationUpdate and
// conversationUpdate included) and kept in the store, so channel posts and direct messages work
// after a restart, on the serviceUrl Teams gave us (in a validated activity, on the allowlist).
package teams
