package gateway

import (
	"github.com/switchboard-mcp/switchboard/config"
	"github.com/switchboard-mcp/switchboard/tokenexchange"
)

// credentialsOf are the config's named credentials as the upstream instances use them. Only
// token exchange exists; validation refused every other type.
func credentialsOf(cfg *config.Config) map[string]tokenexchange.Config {
	out := make(map[string]tokenexchange.Config, len(cfg.Credentials))
	for name, c := range cfg.Credentials {
		out[name] = tokenexchange.Config{Name: name, TokenURL: c.TokenURL, ClientID: c.ClientID, ClientSecret: c.ClientSecret,
			Audience: c.Audience, Scopes: c.Scopes}
	}
	return out
}
