package client

import (
	"context"
	"encoding/json"
	"time"

	"github.com/cedar-policy/cedar-go/types"

	"github.com/agentguard/agentguard/pdp"
)

// RefreshGrants replaces the Options.Grants snapshot with the caller's
// active grants from the PDP. Grants in the snapshot still expire by the
// clock: a grant past approved_until allows nothing in local mode either.
func (c *Client) RefreshGrants(ctx context.Context) error {
	if c.opts.Grants == nil {
		return nil
	}
	data, err := c.do(ctx, "GET", "/access/v1/grants", nil, true)
	if err != nil {
		return err
	}
	var list struct {
		Grants []struct {
			ID            string    `json:"id"`
			Principal     uid       `json:"principal"`
			CedarAction   uid       `json:"cedarAction"`
			CedarResource uid       `json:"cedarResource"`
			Task          string    `json:"task"`
			Status        string    `json:"status"`
			ApprovedUntil time.Time `json:"approvedUntil"`
		} `json:"grants"`
	}
	if err := json.Unmarshal(data, &list); err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, g := range list.Grants {
		if g.Status != "approved" {
			continue
		}
		seen[g.ID] = true
		c.opts.Grants.Put(pdp.Grant{
			ID: g.ID, Principal: g.Principal.cedar(), Action: g.CedarAction.cedar(), Resource: g.CedarResource.cedar(),
			Until: g.ApprovedUntil, Task: g.Task,
		})
	}
	for _, id := range c.opts.Grants.IDs() {
		if !seen[id] {
			c.opts.Grants.Delete(id)
		}
	}
	return nil
}

// KeepGrantsFresh refreshes the grant snapshot every GrantsRefresh until
// ctx ends; failures keep the last snapshot.
func (c *Client) KeepGrantsFresh(ctx context.Context) {
	t := time.NewTicker(c.opts.GrantsRefresh)
	defer t.Stop()
	for {
		_ = c.RefreshGrants(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

type uid struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

func (u uid) cedar() types.EntityUID {
	return types.NewEntityUID(types.EntityType(u.Type), types.String(u.ID))
}
