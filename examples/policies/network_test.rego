package s3gate.authz_test

import data.s3gate.authz

network_input(action, bucket, ip) := {
	"version": 1,
	"principal": {"id": "backup-agent", "roles": ["writer"], "groups": [], "auth": "sigv4"},
	"action": action,
	"resource": {"bucket": bucket, "key": "db/2025-06-01.dump", "arn": concat("", ["arn:aws:s3:::", bucket, "/db/2025-06-01.dump"])},
	"request": {"method": "PUT", "source_ip": ip, "time": "2025-06-01T12:00:00Z"},
}

test_network_writes_from_listed_ranges if {
	every ip in ["10.1.2.3", "192.168.7.9", "fd12:3456::1"] {
		authz.allow with input as network_input("s3:PutObject", "backups", ip)
		count(authz.deny) == 0 with input as network_input("s3:PutObject", "backups", ip)
	}
	count(authz.deny) == 0 with input as network_input("s3:DeleteObject", "backups", "10.9.9.9")
}

test_network_writes_from_elsewhere_denied if {
	authz.deny == {`writes to bucket backups are accepted only from 10.0.0.0/8, 192.168.0.0/16, fd00::/8, not from "203.0.113.9"`} with input as network_input("s3:PutObject", "backups", "203.0.113.9")
	every action in ["s3:PutObject", "s3:DeleteObject", "s3:PutObjectTagging", "s3:AbortMultipartUpload", "s3:DeleteBucket", "s3:PutBucketCORS"] {
		count(authz.deny) == 1 with input as network_input(action, "backups", "2001:db8::1")
	}
}

test_network_unparsable_source_denied if {
	every ip in ["", "not-an-ip", "10.1.2.3:5000"] {
		count(authz.deny) == 1 with input as network_input("s3:PutObject", "backups", ip)
	}
}

test_network_reads_and_other_buckets_unlimited if {
	count(authz.deny) == 0 with input as network_input("s3:GetObject", "backups", "203.0.113.9")
	count(authz.deny) == 0 with input as network_input("s3:ListBucket", "backups", "203.0.113.9")
	count(authz.deny) == 0 with input as network_input("s3:PutObject", "photos", "203.0.113.9")
}
