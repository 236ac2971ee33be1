package teamstest

import (
	"crypto/rsa"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// How a bot token was obtained (Grant).
const (
	GrantSecret          = "client secret"
	GrantCertificate     = "certificate"
	GrantFederated       = "workload identity"
	GrantManagedIdentity = "managed identity"
)

// FederatedAudience is the audience Entra requires of a federated (workload identity) token.
const FederatedAudience = "api://AzureADTokenExchange"

// FederatedIssuer is the issuer of the fake's service account tokens (a cluster's OIDC issuer).
func (s *Server) FederatedIssuer() string { return s.srv.URL + "/oidc" }

// ServiceAccountToken is a projected service account token for subject, signed by the fake's
// cluster issuer, as AKS writes it to AZURE_FEDERATED_TOKEN_FILE.
func (s *Server) ServiceAccountToken(subject string) string {
	now := time.Now()
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"iss": s.FederatedIssuer(), "sub": subject, "aud": []string{FederatedAudience},
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	})
	out, err := t.SignedString(s.fed)
	if err != nil {
		panic(err)
	}
	return out
}

// ManagedIdentityEndpoint is what Azure Container Apps and App Service put in IDENTITY_ENDPOINT
// and IDENTITY_HEADER for the managed identity token endpoint.
func (s *Server) ManagedIdentityEndpoint() (endpoint, header string) {
	return s.srv.URL + "/msi/token", s.miHeader
}

// Grant says how token was obtained (GrantSecret, …); "" for a token the fake did not issue.
func (s *Server) Grant(token string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issued[token]
}

// Bearers are the bearer tokens the connector calls carried, in order.
func (s *Server) Bearers() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.bearers...)
}

// tenantConfig is the tenant's OpenID configuration, where MSAL finds the token endpoint.
func (s *Server) tenantConfig(w http.ResponseWriter, r *http.Request) {
	tenant := r.PathValue("tenant")
	if tenant != s.o.TenantID && tenant != "botframework.com" {
		oauthError(w, http.StatusBadRequest, "invalid_tenant", 90002, fmt.Sprintf("Tenant '%s' not found.", tenant))
		return
	}
	base := s.srv.URL + "/" + tenant
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                "https://login.microsoftonline.com/" + tenant + "/v2.0",
		"authorization_endpoint":                base + "/oauth2/v2.0/authorize",
		"token_endpoint":                        base + "/oauth2/v2.0/token",
		"jwks_uri":                              base + "/discovery/v2.0/keys",
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
	})
}

// checkAssertion checks a client assertion as Entra does: a JWT signed with the registered
// certificate's key (iss and sub the client id, aud the token endpoint), or a federated token
// from the trusted issuer for the trusted subject. It answers the refusal itself.
func (s *Server) checkAssertion(w http.ResponseWriter, r *http.Request, tenant string) (string, bool) {
	if r.PostForm.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
		oauthError(w, http.StatusBadRequest, "invalid_request", 50027, "Invalid client_assertion_type.")
		return "", false
	}
	assertion := r.PostForm.Get("client_assertion")
	var claims jwt.RegisteredClaims
	_, _, err := jwt.NewParser().ParseUnverified(assertion, &claims)
	if err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_client", 50027, "JWT token is invalid or malformed.")
		return "", false
	}
	if claims.Issuer == s.FederatedIssuer() {
		var fc jwt.RegisteredClaims
		_, err := jwt.ParseWithClaims(assertion, &fc, func(*jwt.Token) (any, error) { return &s.fed.PublicKey, nil },
			jwt.WithValidMethods([]string{"RS256"}), jwt.WithAudience(FederatedAudience), jwt.WithIssuer(s.FederatedIssuer()), jwt.WithExpirationRequired())
		if err != nil || s.o.FederatedSubject == "" || fc.Subject != s.o.FederatedSubject {
			oauthError(w, http.StatusBadRequest, "invalid_client", 70021, fmt.Sprintf("No matching federated identity record found for presented assertion. "+
				"Assertion Issuer: '%s'. Assertion Subject: '%s'. Assertion Audience: '%s'.", fc.Issuer, fc.Subject, FederatedAudience))
			return "", false
		}
		return GrantFederated, true
	}
	tokenURL := s.srv.URL + "/" + tenant + "/oauth2/v2.0/token"
	var key *rsa.PublicKey
	if s.o.Certificate != nil {
		key, _ = s.o.Certificate.PublicKey.(*rsa.PublicKey)
	}
	var cc jwt.RegisteredClaims
	_, err = jwt.ParseWithClaims(assertion, &cc, func(*jwt.Token) (any, error) {
		if key == nil {
			return nil, fmt.Errorf("no certificate registered")
		}
		return key, nil
	}, jwt.WithValidMethods([]string{"RS256", "PS256"}), jwt.WithAudience(tokenURL), jwt.WithExpirationRequired())
	if err != nil || cc.Issuer != s.o.AppID || cc.Subject != s.o.AppID {
		oauthError(w, http.StatusUnauthorized, "invalid_client", 700027, "Client assertion failed signature validation.")
		return "", false
	}
	return GrantCertificate, true
}

// managedIdentityToken is the App Service / Container Apps managed identity endpoint
// (api-version 2019-08-01): the X-IDENTITY-HEADER secret, the resource, and the client id of a
// user-assigned identity assigned to the app.
func (s *Server) managedIdentityToken(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	miError := func(status int, msg string) {
		writeJSON(w, status, map[string]any{"statusCode": status, "message": msg, "correlationId": newGUID()})
	}
	switch {
	case r.Header.Get("X-IDENTITY-HEADER") != s.miHeader:
		miError(http.StatusUnauthorized, "Unauthorized request: the X-IDENTITY-HEADER is missing or wrong.")
	case q.Get("api-version") != "2019-08-01":
		miError(http.StatusBadRequest, "Unsupported api-version.")
	case !s.o.ManagedIdentity || q.Get("client_id") != s.o.AppID:
		miError(http.StatusBadRequest, "Unable to load the proper Managed Identity.")
	case q.Get("resource") != "https://api.botframework.com":
		miError(http.StatusBadRequest, "AADSTS500011: The resource principal named "+q.Get("resource")+" was not found in the tenant.")
	default:
		tok := s.issue(GrantManagedIdentity)
		writeJSON(w, http.StatusOK, map[string]any{"access_token": tok, "token_type": "Bearer", "resource": q.Get("resource"),
			"client_id": s.o.AppID, "expires_on": strconv.FormatInt(time.Now().Add(s.o.TokenLifetime).Unix(), 10)})
	}
}
