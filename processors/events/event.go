// Package events is what s3gate says happened: one event per successful
// mutation, in the shape of AWS S3's event notifications, with s3gate's own
// additions under "s3gate"; and the sequencers that order them per key.
package events

import (
	"encoding/json"
	"fmt"
	"net/url"
	"time"
)

// Event names, as S3 spells them in eventName (the "s3:" prefix belongs to
// notification filters, not to events).
const (
	ObjectCreatedPut      = "ObjectCreated:Put"
	ObjectCreatedPost     = "ObjectCreated:Post"
	ObjectCreatedCopy     = "ObjectCreated:Copy"
	ObjectCreatedComplete = "ObjectCreated:CompleteMultipartUpload"
	ObjectRemovedDelete   = "ObjectRemoved:Delete"
	ObjectTaggingPut      = "ObjectTagging:Put"
	ObjectTaggingDelete   = "ObjectTagging:Delete"
)

// Message is an event notification: S3 sends one record per message.
type Message struct {
	Records []Record `json:"Records"`
}

// Record is one event, in S3's event message structure (eventVersion 2.1).
type Record struct {
	EventVersion      string            `json:"eventVersion"`
	EventSource       string            `json:"eventSource"`
	AWSRegion         string            `json:"awsRegion"`
	EventTime         string            `json:"eventTime"`
	EventName         string            `json:"eventName"`
	UserIdentity      Identity          `json:"userIdentity"`
	RequestParameters RequestParameters `json:"requestParameters"`
	ResponseElements  ResponseElements  `json:"responseElements"`
	S3                S3Entity          `json:"s3"`
	// S3gate holds what s3gate adds to S3's record.
	S3gate Extra `json:"s3gate"`
}

// Identity names a principal.
type Identity struct {
	PrincipalID string `json:"principalId"`
}

// RequestParameters are the request's, as S3 reports them.
type RequestParameters struct {
	SourceIPAddress string `json:"sourceIPAddress"`
}

// ResponseElements identify the request that made the change.
type ResponseElements struct {
	RequestID string `json:"x-amz-request-id"`
	HostID    string `json:"x-amz-id-2"`
}

// S3Entity is the bucket and object the event is about.
type S3Entity struct {
	SchemaVersion   string       `json:"s3SchemaVersion"`
	ConfigurationID string       `json:"configurationId"`
	Bucket          BucketEntity `json:"bucket"`
	Object          ObjectEntity `json:"object"`
}

// BucketEntity is the event's bucket.
type BucketEntity struct {
	Name          string   `json:"name"`
	OwnerIdentity Identity `json:"ownerIdentity"`
	ARN           string   `json:"arn"`
}

// ObjectEntity is the event's object. Key is URL-encoded, as S3 sends it;
// Size and ETag are absent from removals.
type ObjectEntity struct {
	Key       string `json:"key"`
	Size      int64  `json:"size,omitempty"`
	ETag      string `json:"eTag,omitempty"`
	VersionID string `json:"versionId,omitempty"`
	// Sequencer orders events of one key: a later write has a greater
	// one (compare as strings of equal length).
	Sequencer string `json:"sequencer"`
}

// Extra is s3gate's addition to a record.
type Extra struct {
	ContentType string `json:"contentType,omitempty"`
	// SniffedType is the media type the gateway read from the object's
	// first bytes as they passed through it (see package sniff); absent
	// when it did not see them (a copy made by the backend).
	SniffedType string            `json:"sniffedContentType,omitempty"`
	Auth        string            `json:"auth,omitempty"`
	Checksum    string            `json:"checksum,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
	// Synthetic marks an event made up for an object that already
	// existed (backfill), not by a request.
	Synthetic bool `json:"synthetic,omitempty"`
}

// Change describes a mutation for New.
type Change struct {
	Name        string
	Region      string
	Time        time.Time
	Bucket      string
	Key         string
	Size        int64
	ETag        string
	Sequencer   string
	Principal   string
	SourceIP    string
	RequestID   string
	HostID      string
	ContentType string
	Auth        string
}

// New builds the record of a change.
func New(c Change) Record {
	return Record{
		EventVersion:      "2.1",
		EventSource:       "aws:s3",
		AWSRegion:         c.Region,
		EventTime:         c.Time.UTC().Format("2006-01-02T15:04:05.000Z"),
		EventName:         c.Name,
		UserIdentity:      Identity{PrincipalID: c.Principal},
		RequestParameters: RequestParameters{SourceIPAddress: c.SourceIP},
		ResponseElements:  ResponseElements{RequestID: c.RequestID, HostID: c.HostID},
		S3: S3Entity{
			SchemaVersion: "1.0",
			Bucket:        BucketEntity{Name: c.Bucket, ARN: "arn:aws:s3:::" + c.Bucket},
			Object:        ObjectEntity{Key: url.QueryEscape(c.Key), Size: c.Size, ETag: c.ETag, Sequencer: c.Sequencer},
		},
		S3gate: Extra{ContentType: c.ContentType, Auth: c.Auth},
	}
}

// Key returns the record's object key, decoded.
func (r Record) Key() string {
	k, err := url.QueryUnescape(r.S3.Object.Key)
	if err != nil {
		return r.S3.Object.Key
	}
	return k
}

// Marshal renders r as a one-record message, the body queues carry.
func (r Record) Marshal() ([]byte, error) { return json.Marshal(Message{Records: []Record{r}}) }

// Unmarshal reads a message body back into its records.
func Unmarshal(b []byte) ([]Record, error) {
	var m Message
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return m.Records, nil
}

// Object returns the bucket and the decoded key the record is about. A
// record without either, or whose key does not decode, is an error no
// retry mends: hooks make it permanent.
func (r Record) Object() (bucket, key string, err error) {
	bucket, raw := r.S3.Bucket.Name, r.S3.Object.Key
	if bucket == "" || raw == "" {
		return "", "", fmt.Errorf("event %q without a bucket or key", r.EventName)
	}
	key, err = url.QueryUnescape(raw)
	if err != nil {
		return "", "", fmt.Errorf("event key %q does not decode: %w", raw, err)
	}
	return bucket, key, nil
}
