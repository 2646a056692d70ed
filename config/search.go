package config

import (
	"fmt"
	"net/url"
)

// Search configures the search hook and the index behind GET
// /api/v1/search: SQLite FTS5 in the data dir (the embedded shape), or
// Elasticsearch 8 shared by every replica.
type Search struct {
	Enabled bool   `default:"true" negatable:"" help:"Index every object for search (GET /api/v1/search); needs events-enabled."`
	Index   string `default:"embedded" enum:"embedded,elasticsearch" help:"Where documents are kept: embedded (SQLite FTS5 in the data dir) or elasticsearch (set search-elasticsearch-url)."`
	// MaxText bounds the bytes of a text-like object read for its words.
	MaxText int64 `name:"max-text" default:"262144" help:"Bytes of a text-like object (plain text, Markdown, CSV, JSON, HTML) whose words are indexed; the rest is not read."`

	ElasticsearchURL      []string `name:"elasticsearch-url" placeholder:"URL" help:"Elasticsearch 8 node URLs (http:// or https://)."`
	ElasticsearchUsername string   `name:"elasticsearch-username" help:"Elasticsearch user for basic authentication."`
	ElasticsearchPassword string   `name:"elasticsearch-password" help:"Password of search-elasticsearch-username (prefer the environment variable to the flag)."`
	ElasticsearchAPIKey   string   `name:"elasticsearch-api-key" help:"Elasticsearch API key (base64 id:key); takes precedence over username and password."`
	ElasticsearchCAFile   string   `name:"elasticsearch-ca-file" placeholder:"FILE" help:"PEM bundle to trust for https:// Elasticsearch URLs."`
	ElasticsearchPrefix   string   `name:"elasticsearch-index-prefix" default:"s3gate-objects" help:"Name of the alias every request uses; indices are PREFIX-vN, one per mapping version."`
}

func (s Search) validate() error {
	if !s.Enabled {
		return nil
	}
	if s.MaxText < 0 || s.MaxText > 16<<20 {
		return settingError("search-max-text", "must be between 0 and 16777216")
	}
	if s.Index != "elasticsearch" {
		return nil
	}
	if len(s.ElasticsearchURL) == 0 {
		return settingError("search-elasticsearch-url", "must be set when search-index is elasticsearch")
	}
	for _, raw := range s.ElasticsearchURL {
		if u, err := url.Parse(raw); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return settingError("search-elasticsearch-url", fmt.Sprintf("%q is not an http:// or https:// URL", redact(raw)))
		}
	}
	if s.ElasticsearchPrefix == "" {
		return settingError("search-elasticsearch-index-prefix", "must not be empty")
	}
	return nil
}
