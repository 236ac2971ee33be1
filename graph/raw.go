package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	abstractions "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
)

// Raw JSON requests, for the endpoints whose SDK request builders would cost more build time
// and binary size than the few fields we read are worth (PIM for Groups lives in the huge
// identitygovernance package) or that the v1 SDK lacks (beta approvals). They go through the
// same adapter, middleware and error mapping as the SDK's own requests.

var odataErrors = abstractions.ErrorMappings{"XXX": odataerrors.CreateODataErrorFromDiscriminatorValue}

// v1 is an absolute v1.0 URL for a path such as "/groups/{id}".
func (c *Client) v1(path string) string { return c.baseURL + path }

// beta is an absolute beta URL for a path.
func (c *Client) beta(path string) string {
	return strings.TrimSuffix(c.baseURL, "/v1.0") + "/beta" + path
}

// send makes one request: body (when not nil) is sent as JSON, the answer is decoded into out
// (when not nil). A write (write=true) is retried only when Graph says it was not processed.
func (c *Client) send(ctx context.Context, ad abstractions.RequestAdapter, op string, method abstractions.HttpMethod,
	rawURL string, body, out any, write bool) error {
	ri, err := request(method, rawURL)
	if err != nil {
		return err
	}
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("graph: %s: %w", op, err)
		}
		ri.SetStreamContentAndContentType(b, "application/json")
	}
	if write {
		ri.AddRequestOptions([]abstractions.RequestOption{retryOnlyUnprocessed()})
	}
	if out == nil {
		return wrapErr(op, ad.SendNoContent(ctx, ri, odataErrors))
	}
	raw, err := ad.SendPrimitive(ctx, ri, "[]byte", odataErrors)
	if err != nil {
		return wrapErr(op, err)
	}
	b, _ := raw.([]byte)
	if len(b) == 0 {
		return fmt.Errorf("graph: %s: empty response", op)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("graph: %s: %w", op, err)
	}
	return nil
}

// list reads every page of a collection, following @odata.nextLink, and hands each item to fn.
func (c *Client) list(ctx context.Context, ad abstractions.RequestAdapter, op, rawURL string, fn func(json.RawMessage) error) error {
	for rawURL != "" {
		var page struct {
			Value []json.RawMessage `json:"value"`
			Next  string            `json:"@odata.nextLink"`
		}
		if err := c.send(ctx, ad, op, abstractions.GET, rawURL, nil, &page, false); err != nil {
			return err
		}
		for _, v := range page.Value {
			if err := fn(v); err != nil {
				return err
			}
		}
		rawURL = page.Next
	}
	return nil
}

// query builds "?$filter=...&..." with OData's own escaping of spaces and quotes.
func query(kv ...string) string {
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			continue
		}
		if b.Len() == 0 {
			b.WriteByte('?')
		} else {
			b.WriteByte('&')
		}
		b.WriteString(kv[i] + "=" + escapeQuery(kv[i+1]))
	}
	return b.String()
}

func escapeQuery(s string) string {
	r := strings.NewReplacer("%", "%25", " ", "%20", "'", "%27", "&", "%26", "#", "%23", "+", "%2B", "?", "%3F", ":", "%3A")
	return r.Replace(s)
}
