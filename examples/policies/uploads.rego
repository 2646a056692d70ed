# Upload limits per bucket (data.uploads.buckets, uploads.json): the content
# types a PUT may declare and the most bytes one PUT may send. These are
# deny rules: they narrow what the other rules allow, and a bucket not
# listed has no limits.
#
# What the rule can see, and so what it limits:
# - A PUT is a PutObject, an UploadPart or a copy. Its Content-Type is the
#   client's claim, judged when declared (an UploadPart declares none); the
#   gateway does not look at the bytes.
# - max_size bounds each PUT body, so a multipart upload can exceed it in
#   parts. A PUT that does not declare its length is refused.
# - POSTs (CreateMultipartUpload, CompleteMultipartUpload, browser form
#   uploads) carry a content type that is not the object's: not judged.
package s3gate.authz

upload_limits := data.uploads.buckets[input.resource.bucket] if {
	input.action == "s3:PutObject"
	input.request.method == "PUT"
}

# upload_media_type is the declared content type without its parameters
# ("text/csv; charset=utf-8" is text/csv), in lower case.
upload_media_type := lower(trim_space(split(input.request.content_type, ";")[0]))

deny contains msg if {
	limits := upload_limits
	input.request.content_type != ""
	not upload_media_type in limits.content_types
	msg := sprintf("bucket %s accepts only %s, not %s", [input.resource.bucket, concat(", ", limits.content_types), upload_media_type])
}

deny contains msg if {
	limits := upload_limits
	input.request.content_length > limits.max_size
	msg := sprintf("bucket %s accepts at most %d bytes in one upload, not %d", [input.resource.bucket, limits.max_size, input.request.content_length])
}

deny contains msg if {
	upload_limits.max_size
	input.request.content_length < 0
	msg := sprintf("bucket %s needs the length of an upload declared", [input.resource.bucket])
}
