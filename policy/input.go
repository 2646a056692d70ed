package policy

import "time"

// InputVersion is the version of the input document. It changes only when a
// field changes meaning or goes away; new fields do not change it.
const InputVersion = 1

// Input is the document a policy judges: who asks (principal), to do what
// (action, an IAM action name such as "s3:GetObject"), to what (resource)
// and the facts of the request. Policies read it as input.
type Input struct {
	Version   int       `json:"version"`
	Principal Principal `json:"principal"`
	Action    string    `json:"action"`
	Resource  Resource  `json:"resource"`
	Request   Request   `json:"request"`
}

// Principal is the caller as authentication established it.
type Principal struct {
	ID          string         `json:"id"`
	DisplayName string         `json:"display_name,omitempty"`
	Roles       []string       `json:"roles"`
	Groups      []string       `json:"groups"`
	Claims      map[string]any `json:"claims,omitempty"`
	// Auth is how it authenticated: sigv4, presigned, jwt, sts or
	// anonymous.
	Auth string `json:"auth"`
}

// Resource is what the action applies to. Bucket and Key are empty for
// service-level actions (s3:ListAllMyBuckets) and Key for bucket-level ones.
type Resource struct {
	Bucket string `json:"bucket,omitempty"`
	Key    string `json:"key,omitempty"`
	// ARN is arn:aws:s3:::bucket or arn:aws:s3:::bucket/key.
	ARN string `json:"arn"`
}

// Request holds the facts of the request that policies commonly judge.
type Request struct {
	Method   string    `json:"method"`
	SourceIP string    `json:"source_ip"`
	Time     time.Time `json:"time"`
	// ContentType and ContentLength describe the body of a write.
	ContentType   string `json:"content_type,omitempty"`
	ContentLength int64  `json:"content_length,omitempty"`
	// Prefix and Delimiter are a listing's.
	Prefix    string `json:"prefix,omitempty"`
	Delimiter string `json:"delimiter,omitempty"`
	// CopySource is the bucket/key a copy reads ("bucket/key").
	CopySource string `json:"copy_source,omitempty"`
	// Tags are the object tags the request sets.
	Tags map[string]string `json:"tags,omitempty"`
	// ExistingTags are the tags of the object the request reads or
	// changes, looked up only when the configuration asks for them.
	ExistingTags map[string]string `json:"existing_tags,omitempty"`
}

// Decision is a policy's answer.
type Decision struct {
	Allow bool `json:"allow"`
	// Reasons say why: the messages of the deny rules that fired, or of
	// the allow rule that matched. They go to the log, and to the caller
	// in the error's message for the caller's own denials.
	Reasons []string `json:"reasons,omitempty"`
}

// Grant is one place a principal may read: a bucket ("*" for every bucket)
// and a key prefix ("" for the whole bucket).
type Grant struct {
	Bucket string `json:"bucket"`
	Prefix string `json:"prefix"`
}
