package s3gate.authz_test

import data.s3gate.authz

roles_input(roles, action) := {
	"version": 1,
	"principal": {"id": "alice", "roles": roles, "groups": [], "auth": "sigv4"},
	"action": action,
	"resource": {"bucket": "photos", "key": "2024/cat.jpg", "arn": "arn:aws:s3:::photos/2024/cat.jpg"},
	"request": {"method": "GET", "source_ip": "192.0.2.10", "time": "2025-06-01T12:00:00Z"},
}

test_roles_admin_may_do_everything if {
	every action in ["s3:GetObject", "s3:PutObject", "s3:CreateBucket", "s3:DeleteBucket", "s3:PutBucketCORS", "s3gate:CreateAccessKey", "s3gate:DeleteAccessKey"] {
		authz.allow with input as roles_input(["admin"], action)
	}
}

test_roles_writer_may_write_objects if {
	every action in ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:PutObjectTagging", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts", "s3:ListBucketMultipartUploads", "s3:ListBucket", "s3:ListAllMyBuckets", "s3gate:ListObjects", "s3gate:Search"] {
		authz.allow with input as roles_input(["writer"], action)
	}
}

test_roles_writer_may_not_manage_buckets_or_keys if {
	every action in ["s3:CreateBucket", "s3:DeleteBucket", "s3:PutBucketCORS", "s3:PutBucketTagging", "s3gate:CreateAccessKey", "s3gate:ListAccessKeys", "s3gate:Reindex", "s3gate:Backfill"] {
		not authz.allow with input as roles_input(["writer"], action)
	}
}

test_roles_reader_may_read_and_list if {
	every action in ["s3:GetObject", "s3:GetObjectTagging", "s3:GetObjectAttributes", "s3:ListBucket", "s3:ListAllMyBuckets", "s3gate:ListObjects", "s3gate:Search"] {
		authz.allow with input as roles_input(["reader"], action)
	}
}

test_roles_reader_may_not_write if {
	every action in ["s3:PutObject", "s3:DeleteObject", "s3:PutObjectTagging", "s3:AbortMultipartUpload", "s3:CreateBucket", "s3gate:ListAccessKeys", "s3gate:Reindex"] {
		not authz.allow with input as roles_input(["reader"], action)
	}
}

test_roles_unknown_or_no_role_may_do_nothing if {
	not authz.allow with input as roles_input([], "s3:GetObject")
	not authz.allow with input as roles_input(["auditor"], "s3:GetObject")
	not authz.allow with input as roles_input(["Admin"], "s3:GetObject")
}

test_roles_unknown_action_is_not_granted_by_wildcards if {
	not authz.allow with input as roles_input(["admin"], "GetObject")
	not authz.allow with input as roles_input(["admin"], "s3gateway:CreateAccessKey")
	not authz.allow with input as roles_input(["admin"], "iam:s3:GetObject")
}

test_roles_any_granting_role_suffices if {
	authz.allow with input as roles_input(["reader", "writer"], "s3:PutObject")
	authz.allow with input as roles_input(["auditor", "admin"], "s3:CreateBucket")
	not authz.allow with input as roles_input(["reader", "auditor"], "s3:PutObject")
}

test_roles_readable if {
	every roles in [["admin"], ["writer"], ["reader"], ["auditor", "reader"]] {
		{"bucket": "*", "prefix": ""} in authz.readable with input as {"principal": {"id": "alice", "roles": roles, "groups": []}}
	}
	not {"bucket": "*", "prefix": ""} in authz.readable with input as {"principal": {"id": "alice", "roles": ["auditor"], "groups": []}}
}
