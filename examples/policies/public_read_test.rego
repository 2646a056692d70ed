package s3gate.authz_test

import data.s3gate.authz

public_input(action, bucket, key) := {
	"version": 1,
	"principal": {"id": "anonymous", "roles": [], "groups": [], "auth": "anonymous"},
	"action": action,
	"resource": {"bucket": bucket, "key": key, "arn": concat("", ["arn:aws:s3:::", bucket, "/", key])},
	"request": {"method": "GET", "source_ip": "198.51.100.7", "time": "2025-06-01T12:00:00Z"},
}

test_public_read_anonymous_may_get if {
	authz.allow with input as public_input("s3:GetObject", "downloads", "release/v1.tar.gz")
	authz.reasons == {"bucket downloads is public-read"} with input as public_input("s3:GetObject", "downloads", "release/v1.tar.gz")
}

test_public_read_only_reads_of_listed_buckets if {
	not authz.allow with input as public_input("s3:GetObject", "photos", "cat.jpg")
	not authz.allow with input as public_input("s3:PutObject", "downloads", "evil.exe")
	not authz.allow with input as public_input("s3:DeleteObject", "downloads", "release/v1.tar.gz")
	not authz.allow with input as public_input("s3:ListBucket", "downloads", "")
	not authz.allow with input as public_input("s3:GetObjectTagging", "downloads", "release/v1.tar.gz")
}

test_public_read_readable_by_everyone if {
	{"bucket": "downloads", "prefix": ""} in authz.readable with input as {"principal": {"id": "anonymous", "roles": [], "groups": []}}
	{"bucket": "downloads", "prefix": ""} in authz.readable with input as {"principal": {"id": "alice", "roles": ["user"], "groups": []}}
}
