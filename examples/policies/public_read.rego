# Public-read buckets: anyone, anonymous callers included, may get and head
# the objects of the buckets in data.public_read.buckets (public_read.json).
# Listing them is not public; add s3:ListBucket to public_read_actions to
# make it so.
package s3gate.authz

public_read_actions := {"s3:GetObject"}

public_read if {
	public_read_actions[input.action]
	input.resource.bucket in data.public_read.buckets
}

allow if public_read

reasons contains sprintf("bucket %s is public-read", [input.resource.bucket]) if public_read

readable contains {"bucket": bucket, "prefix": ""} if some bucket in data.public_read.buckets
