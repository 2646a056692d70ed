# Role-based access for s3gate: what a principal may do follows from its
# roles (input.principal.roles).
#
#   admin   every action: every S3 action (s3:*) and admin route (s3gate:*)
#   writer  read, list, write and delete objects and their tags, use
#           multipart uploads, list buckets; not create or delete buckets
#           nor change their configuration
#   reader  get and head objects, their tags and attributes, list buckets
#           and objects
#   writer and reader may also search the object catalogue
#   (s3gate:ListObjects) and the search index (s3gate:Search), which show
#   them only what readable grants
#
# Anyone else may do nothing: allow is false by default.
package s3gate.authz

default allow := false

# role_actions maps a role to the actions it grants, and role_services a
# role to the prefixes of the actions it grants whatever they are ("s3:" for
# every S3 action, "s3gate:" for every admin route). Looking the action up
# in a set keeps a decision one hash lookup per role of the principal,
# however long the lists grow.
role_actions := {
	"writer": {
		"s3:GetObject",
		"s3:GetObjectTagging",
		"s3:GetObjectAttributes",
		"s3:PutObject",
		"s3:PutObjectTagging",
		"s3:DeleteObject",
		"s3:DeleteObjectTagging",
		"s3:AbortMultipartUpload",
		"s3:ListMultipartUploadParts",
		"s3:ListBucketMultipartUploads",
		"s3:ListBucket",
		"s3:ListBucketVersions",
		"s3:ListAllMyBuckets",
		"s3:GetBucketLocation",
		"s3gate:ListObjects",
		"s3gate:Search",
	},
	"reader": {
		"s3:GetObject",
		"s3:GetObjectTagging",
		"s3:GetObjectAttributes",
		"s3:ListBucket",
		"s3:ListBucketVersions",
		"s3:ListAllMyBuckets",
		"s3:GetBucketLocation",
		"s3gate:ListObjects",
		"s3gate:Search",
	},
}

role_services := {"admin": {"s3:", "s3gate:"}}

# A role grants an action it lists, or every action of a service it
# covers. The policy gives no reasons for an allow: the roles say why, and
# evaluating a reasons rule would cost every decision as much again.
allow if {
	some role in input.principal.roles
	role_actions[role][input.action]
}

allow if {
	some role in input.principal.roles
	some service in role_services[role]
	startswith(input.action, service)
}

# A role that may get every object may read every bucket.
readable contains {"bucket": "*", "prefix": ""} if {
	some role in input.principal.roles
	role_actions[role]["s3:GetObject"]
}

readable contains {"bucket": "*", "prefix": ""} if {
	some role in input.principal.roles
	role_services[role]["s3:"]
}
