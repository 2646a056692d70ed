# Per-user home prefixes: a principal with role "user" may read, write and
# list only under home/<principal id>/ in the buckets of data.home.buckets
# (home.json).
#
# - Object actions need a key inside the home prefix.
# - Listings need a prefix inside it: "home/alice" (no slash) would also
#   list home/alice2/, so it is refused.
# - A copy (s3:PutObject with input.request.copy_source) needs its source
#   inside the home too. s3gate also judges the copy's source as an
#   s3:GetObject of its own.
# - A principal id with a "/" gets no home: alice/x would otherwise own
#   home/alice/x/, inside alice's home.
package s3gate.authz

home_object_actions := {
	"s3:GetObject",
	"s3:GetObjectTagging",
	"s3:GetObjectAttributes",
	"s3:PutObject",
	"s3:PutObjectTagging",
	"s3:DeleteObject",
	"s3:DeleteObjectTagging",
	"s3:AbortMultipartUpload",
	"s3:ListMultipartUploadParts",
}

home_list_actions := {"s3:ListBucket", "s3:ListBucketMultipartUploads"}

# home_prefix is defined only for a principal who has a home.
home_prefix := concat("", ["home/", input.principal.id, "/"]) if {
	"user" in input.principal.roles
	input.principal.id != ""
	not contains(input.principal.id, "/")
}

in_home_bucket if input.resource.bucket in data.home.buckets

home_copy_source_ok if not input.request.copy_source

home_copy_source_ok if {
	some bucket in data.home.buckets
	startswith(input.request.copy_source, concat("", [bucket, "/", home_prefix]))
}

home_object_access if {
	home_object_actions[input.action]
	in_home_bucket
	startswith(input.resource.key, home_prefix)
	home_copy_source_ok
}

home_listing if {
	home_list_actions[input.action]
	in_home_bucket
	startswith(input.request.prefix, home_prefix)
}

allow if home_object_access

allow if home_listing

# Users may list buckets; s3gate shows them those they may read.
allow if {
	input.action == "s3:ListAllMyBuckets"
	home_prefix
}

reasons contains sprintf("%s is in the home of %s", [input.resource.arn, input.principal.id]) if home_object_access

reasons contains sprintf("listing prefix %q is in the home of %s", [input.request.prefix, input.principal.id]) if home_listing

reasons contains sprintf("%s has a home", [input.principal.id]) if {
	input.action == "s3:ListAllMyBuckets"
	home_prefix
}

readable contains {"bucket": bucket, "prefix": home_prefix} if some bucket in data.home.buckets
