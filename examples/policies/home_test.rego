package s3gate.authz_test

import data.s3gate.authz

home_input(id, action, bucket, key, request) := {
	"version": 1,
	"principal": {"id": id, "roles": ["user"], "groups": [], "auth": "sigv4"},
	"action": action,
	"resource": {"bucket": bucket, "key": key, "arn": concat("", ["arn:aws:s3:::", bucket, "/", key])},
	"request": object.union({"method": "GET", "source_ip": "192.0.2.10", "time": "2025-06-01T12:00:00Z"}, request),
}

test_home_user_may_use_own_home if {
	every action in ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:GetObjectTagging", "s3:AbortMultipartUpload"] {
		authz.allow with input as home_input("alice", action, "home", "home/alice/notes.txt", {})
	}
	authz.reasons == {"arn:aws:s3:::home/home/alice/notes.txt is in the home of alice"} with input as home_input("alice", "s3:GetObject", "home", "home/alice/notes.txt", {})
}

test_home_user_may_not_use_another_home if {
	not authz.allow with input as home_input("alice", "s3:GetObject", "home", "home/bob/notes.txt", {})
	not authz.allow with input as home_input("alice", "s3:PutObject", "home", "home/alice2/x", {})
	not authz.allow with input as home_input("alice", "s3:GetObject", "home", "home/alice", {})
	not authz.allow with input as home_input("alice", "s3:GetObject", "home", "shared/alice/x", {})
}

test_home_only_in_home_buckets if {
	not authz.allow with input as home_input("alice", "s3:GetObject", "photos", "home/alice/x", {})
	authz.allow with input as home_input("alice", "s3:GetObject", "photos", "home/alice/x", {}) with data.home.buckets as ["home", "photos"]
}

test_home_needs_role_user if {
	not authz.allow with input as object.union(home_input("alice", "s3:GetObject", "home", "home/alice/x", {}), {"principal": {"roles": []}})
}

test_home_id_with_slash_has_no_home if {
	not authz.allow with input as home_input("alice/bob", "s3:GetObject", "home", "home/alice/bob/x", {})
	not authz.allow with input as home_input("", "s3:GetObject", "home", "home//x", {})
}

test_home_listing_needs_prefix_inside_home if {
	authz.allow with input as home_input("alice", "s3:ListBucket", "home", "", {"prefix": "home/alice/"})
	authz.allow with input as home_input("alice", "s3:ListBucket", "home", "", {"prefix": "home/alice/2025/", "delimiter": "/"})
	authz.allow with input as home_input("alice", "s3:ListBucketMultipartUploads", "home", "", {"prefix": "home/alice/"})
	not authz.allow with input as home_input("alice", "s3:ListBucket", "home", "", {})
	not authz.allow with input as home_input("alice", "s3:ListBucket", "home", "", {"prefix": "home/"})
	not authz.allow with input as home_input("alice", "s3:ListBucket", "home", "", {"prefix": "home/alice"})
	not authz.allow with input as home_input("alice", "s3:ListBucket", "home", "", {"prefix": "home/bob/"})
}

test_home_copy_source_inside_home if {
	authz.allow with input as home_input("alice", "s3:PutObject", "home", "home/alice/copy", {"method": "PUT", "copy_source": "home/home/alice/orig"})
	not authz.allow with input as home_input("alice", "s3:PutObject", "home", "home/alice/copy", {"method": "PUT", "copy_source": "home/home/bob/orig"})
	not authz.allow with input as home_input("alice", "s3:PutObject", "home", "home/alice/copy", {"method": "PUT", "copy_source": "photos/home/alice/orig"})
}

test_home_user_may_list_buckets if {
	authz.allow with input as home_input("alice", "s3:ListAllMyBuckets", "", "", {})
}

test_home_readable if {
	{"bucket": "home", "prefix": "home/alice/"} in authz.readable with input as {"principal": {"id": "alice", "roles": ["user"], "groups": []}}
	not {"bucket": "home", "prefix": "home/bob/"} in authz.readable with input as {"principal": {"id": "alice", "roles": ["user"], "groups": []}}
	grants := authz.readable with input as {"principal": {"id": "alice/bob", "roles": ["user"], "groups": []}}
	every g in grants {
		g.bucket != "home"
	}
}
