package s3gate.authz_test

import data.s3gate.authz

upload_input(bucket, request) := {
	"version": 1,
	"principal": {"id": "alice", "roles": ["writer"], "groups": [], "auth": "sigv4"},
	"action": "s3:PutObject",
	"resource": {"bucket": bucket, "key": "upload", "arn": concat("", ["arn:aws:s3:::", bucket, "/upload"])},
	"request": object.union({"method": "PUT", "source_ip": "192.0.2.10", "time": "2025-06-01T12:00:00Z"}, request),
}

test_uploads_allowed_type_and_size if {
	every req in [
		{"bucket": "media", "content_type": "image/png", "content_length": 1024},
		{"bucket": "reports", "content_type": "text/csv; charset=utf-8", "content_length": 1024},
		{"bucket": "media", "content_type": "IMAGE/JPEG", "content_length": 104857600},
	] {
		authz.allow with input as upload_input(req.bucket, object.remove(req, ["bucket"]))
		count(authz.deny) == 0 with input as upload_input(req.bucket, object.remove(req, ["bucket"]))
	}
}

test_uploads_type_not_accepted if {
	authz.deny == {"bucket media accepts only image/png, image/jpeg, image/webp, video/mp4, not application/x-sh"} with input as upload_input("media", {"content_type": "application/x-sh", "content_length": 10})
}

test_uploads_too_large if {
	authz.deny == {"bucket reports accepts at most 10485760 bytes in one upload, not 10485761"} with input as upload_input("reports", {"content_type": "application/pdf", "content_length": 10485761})
}

test_uploads_both_reasons if {
	count(authz.deny) == 2 with input as upload_input("reports", {"content_type": "image/png", "content_length": 10485761})
}

test_uploads_undeclared_length_refused if {
	authz.deny == {"bucket media needs the length of an upload declared"} with input as upload_input("media", {"content_type": "image/png", "content_length": -1})
}

test_uploads_parts_and_copies_without_type if {
	count(authz.deny) == 0 with input as upload_input("media", {"content_length": 5242880})
	count(authz.deny) == 0 with input as upload_input("media", {"copy_source": "media/orig.png"})
}

test_uploads_other_buckets_and_posts_unlimited if {
	count(authz.deny) == 0 with input as upload_input("photos", {"content_type": "application/x-sh", "content_length": 999999999999})
	count(authz.deny) == 0 with input as upload_input("media", {"method": "POST", "content_type": "application/xml", "content_length": 200})
}

test_uploads_do_not_limit_reads if {
	count(authz.deny) == 0 with input as object.union(upload_input("media", {"method": "GET", "content_type": "application/x-sh"}), {"action": "s3:GetObject"})
}
