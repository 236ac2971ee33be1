package pgconn

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// The kinds of credential NewCredential makes.
const (
	KindManagedIdentity  = "managed identity"
	KindWorkloadIdentity = "workload identity"
)

// CredentialConfig picks the identity Elevate logs in to PostgreSQL as.
type CredentialConfig struct {
	// ClientID is the identity's client id (ELEVATE_DATABASE_CLIENT_ID): a user-assigned managed
	// identity's, or with workload identity the federated identity's (default AZURE_CLIENT_ID,
	// which the AKS webhook sets). Empty with a managed identity: the host's system-assigned one.
	ClientID string
	// TenantID is the identity's tenant (AZURE_TENANT_ID), for workload identity.
	TenantID string
	// FederatedTokenFile is the workload identity token (AZURE_FEDERATED_TOKEN_FILE, which AKS
	// sets in a pod whose service account is federated); empty for a managed identity.
	FederatedTokenFile string
	// HTTPClient, when set, carries the credential's requests (tests).
	HTTPClient *http.Client
}

// Credential is the database credential and what it is.
type Credential struct {
	azcore.TokenCredential
	Kind     string // KindManagedIdentity or KindWorkloadIdentity
	ClientID string // "" for a system-assigned managed identity
}

// Describe is the credential in the operator's words, e.g. "user-assigned managed identity
// 1b2c… (ELEVATE_DATABASE_CLIENT_ID)".
func (c *Credential) Describe() string {
	switch {
	case c.Kind == KindWorkloadIdentity:
		return fmt.Sprintf("workload identity %s (AZURE_FEDERATED_TOKEN_FILE)", c.ClientID)
	case c.ClientID == "":
		return "the host's system-assigned managed identity"
	}
	return fmt.Sprintf("user-assigned managed identity %s (ELEVATE_DATABASE_CLIENT_ID)", c.ClientID)
}

// NewCredential makes the credential for Microsoft Entra authentication to PostgreSQL: the
// workload identity when FederatedTokenFile is set (AKS), else the managed identity of the host
// (Azure Container Apps, App Service, a VM), the user-assigned one whose client id is ClientID.
// It is never the app registration's client secret: the database role belongs to an identity
// without a secret. It does no I/O.
func NewCredential(c CredentialConfig) (*Credential, error) {
	var opts azcore.ClientOptions
	if c.HTTPClient != nil {
		opts.Transport = c.HTTPClient
	}
	clientID := strings.TrimSpace(c.ClientID)
	var err error
	out := &Credential{ClientID: clientID}
	if c.FederatedTokenFile != "" {
		if clientID == "" {
			return nil, errors.New("database: workload identity needs the identity's client id: set ELEVATE_DATABASE_CLIENT_ID (or AZURE_CLIENT_ID)")
		}
		if strings.TrimSpace(c.TenantID) == "" {
			return nil, errors.New("database: workload identity needs the tenant: set AZURE_TENANT_ID")
		}
		out.Kind = KindWorkloadIdentity
		out.TokenCredential, err = azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{
			ClientOptions: opts, ClientID: clientID, TenantID: c.TenantID, TokenFilePath: c.FederatedTokenFile})
	} else {
		out.Kind = KindManagedIdentity
		mo := &azidentity.ManagedIdentityCredentialOptions{ClientOptions: opts}
		if clientID != "" {
			mo.ID = azidentity.ClientID(clientID)
		}
		out.TokenCredential, err = azidentity.NewManagedIdentityCredential(mo)
	}
	if err != nil {
		return nil, fmt.Errorf("database: %s credential: %w", out.Kind, err)
	}
	return out, nil
}
