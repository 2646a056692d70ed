package gateway

// actions maps each operation s3gate routes to the IAM action a policy
// judges it by, as AWS's Service Authorization Reference for S3 names them
// (HeadObject is s3:GetObject, HeadBucket and the listings s3:ListBucket,
// UploadPart and CompleteMultipartUpload s3:PutObject, ...). Operations that
// need more than this one decision say so in authorize: a copy is also
// judged as s3:GetObject of its source; DeleteObjects key by key.
//
// Every routed operation must be here (TestEveryOperationHasAnAction), or
// in unauthorized.
var actions = map[string]string{
	"ListBuckets": "s3:ListAllMyBuckets",

	"GetBucketLocation":                        "s3:GetBucketLocation",
	"GetBucketVersioning":                      "s3:GetBucketVersioning",
	"GetBucketAcl":                             "s3:GetBucketAcl",
	"GetBucketCors":                            "s3:GetBucketCORS",
	"GetBucketPolicy":                          "s3:GetBucketPolicy",
	"GetBucketPolicyStatus":                    "s3:GetBucketPolicyStatus",
	"GetBucketLifecycleConfiguration":          "s3:GetLifecycleConfiguration",
	"GetBucketTagging":                         "s3:GetBucketTagging",
	"GetBucketEncryption":                      "s3:GetEncryptionConfiguration",
	"GetBucketWebsite":                         "s3:GetBucketWebsite",
	"GetObjectLockConfiguration":               "s3:GetBucketObjectLockConfiguration",
	"GetBucketReplication":                     "s3:GetReplicationConfiguration",
	"GetBucketOwnershipControls":               "s3:GetBucketOwnershipControls",
	"GetPublicAccessBlock":                     "s3:GetBucketPublicAccessBlock",
	"GetBucketLogging":                         "s3:GetBucketLogging",
	"GetBucketNotificationConfiguration":       "s3:GetBucketNotification",
	"GetBucketAccelerateConfiguration":         "s3:GetAccelerateConfiguration",
	"GetBucketRequestPayment":                  "s3:GetBucketRequestPayment",
	"ListMultipartUploads":                     "s3:ListBucketMultipartUploads",
	"ListObjectVersions":                       "s3:ListBucketVersions",
	"GetBucketIntelligentTieringConfiguration": "s3:GetIntelligentTieringConfiguration",
	"GetBucketAnalyticsConfiguration":          "s3:GetAnalyticsConfiguration",
	"GetBucketMetricsConfiguration":            "s3:GetMetricsConfiguration",
	"GetBucketInventoryConfiguration":          "s3:GetInventoryConfiguration",
	"ListObjectsV2":                            "s3:ListBucket",
	"ListObjects":                              "s3:ListBucket",
	"HeadBucket":                               "s3:ListBucket",

	"CreateBucket":                                "s3:CreateBucket",
	"PutBucketCors":                               "s3:PutBucketCORS",
	"PutBucketTagging":                            "s3:PutBucketTagging",
	"PutBucketAcl":                                "s3:PutBucketAcl",
	"PutBucketPolicy":                             "s3:PutBucketPolicy",
	"PutBucketLifecycle":                          "s3:PutLifecycleConfiguration",
	"PutBucketEncryption":                         "s3:PutEncryptionConfiguration",
	"PutBucketWebsite":                            "s3:PutBucketWebsite",
	"PutBucketObjectLock":                         "s3:PutBucketObjectLockConfiguration",
	"PutBucketReplication":                        "s3:PutReplicationConfiguration",
	"PutBucketOwnershipControls":                  "s3:PutBucketOwnershipControls",
	"PutBucketPublicAccessBlock":                  "s3:PutBucketPublicAccessBlock",
	"PutBucketLogging":                            "s3:PutBucketLogging",
	"PutBucketNotification":                       "s3:PutBucketNotification",
	"PutBucketRequestPayment":                     "s3:PutBucketRequestPayment",
	"PutBucketAccelerate":                         "s3:PutAccelerateConfiguration",
	"PutBucketVersioning":                         "s3:PutBucketVersioning",
	"PutBucketIntelligentTiering":                 "s3:PutIntelligentTieringConfiguration",
	"PutBucketAnalytics":                          "s3:PutAnalyticsConfiguration",
	"PutBucketMetrics":                            "s3:PutMetricsConfiguration",
	"PutBucketInventory":                          "s3:PutInventoryConfiguration",
	"DeleteBucket":                                "s3:DeleteBucket",
	"DeleteBucketCors":                            "s3:PutBucketCORS",
	"DeleteBucketPolicy":                          "s3:DeleteBucketPolicy",
	"DeleteBucketLifecycle":                       "s3:PutLifecycleConfiguration",
	"DeleteBucketTagging":                         "s3:PutBucketTagging",
	"DeleteBucketEncryption":                      "s3:PutEncryptionConfiguration",
	"DeleteBucketWebsite":                         "s3:DeleteBucketWebsite",
	"DeleteBucketReplication":                     "s3:PutReplicationConfiguration",
	"DeleteBucketOwnershipControls":               "s3:PutBucketOwnershipControls",
	"DeletePublicAccessBlock":                     "s3:PutBucketPublicAccessBlock",
	"DeleteBucketIntelligentTieringConfiguration": "s3:PutIntelligentTieringConfiguration",
	"DeleteBucketAnalyticsConfiguration":          "s3:PutAnalyticsConfiguration",
	"DeleteBucketMetricsConfiguration":            "s3:PutMetricsConfiguration",
	"DeleteBucketInventoryConfiguration":          "s3:PutInventoryConfiguration",
	"DeleteObjects":                               "s3:DeleteObject",
	"PostObject":                                  "s3:PutObject",

	"GetObject":               "s3:GetObject",
	"HeadObject":              "s3:GetObject",
	"GetObjectAcl":            "s3:GetObjectAcl",
	"GetObjectTagging":        "s3:GetObjectTagging",
	"GetObjectRetention":      "s3:GetObjectRetention",
	"GetObjectLegalHold":      "s3:GetObjectLegalHold",
	"GetObjectAttributes":     "s3:GetObjectAttributes",
	"GetObjectTorrent":        "s3:GetObjectTorrent",
	"ListParts":               "s3:ListMultipartUploadParts",
	"PutObject":               "s3:PutObject",
	"CopyObject":              "s3:PutObject",
	"UploadPart":              "s3:PutObject",
	"UploadPartCopy":          "s3:PutObject",
	"CreateMultipartUpload":   "s3:PutObject",
	"CompleteMultipartUpload": "s3:PutObject",
	"AbortMultipartUpload":    "s3:AbortMultipartUpload",
	"PutObjectTagging":        "s3:PutObjectTagging",
	"DeleteObjectTagging":     "s3:DeleteObjectTagging",
	"PutObjectAcl":            "s3:PutObjectAcl",
	"PutObjectRetention":      "s3:PutObjectRetention",
	"PutObjectLegalHold":      "s3:PutObjectLegalHold",
	"DeleteObject":            "s3:DeleteObject",
	"RestoreObject":           "s3:RestoreObject",
	"SelectObjectContent":     "s3:GetObject",
	"PostToObject":            "s3:PutObject",

	"AdminCreateKey":  "s3gate:CreateAccessKey",
	"AdminListKeys":   "s3gate:ListAccessKeys",
	"AdminGetKey":     "s3gate:GetAccessKey",
	"AdminDisableKey": "s3gate:DisableAccessKey",
	"AdminEnableKey":  "s3gate:EnableAccessKey",
	"AdminDeleteKey":  "s3gate:DeleteAccessKey",

	"AdminListObjects":       "s3gate:ListObjects",
	"AdminSearch":            "s3gate:Search",
	"AdminReindex":           "s3gate:Reindex",
	"AdminListDeadLetters":   "s3gate:ListDeadLetters",
	"AdminReplayDeadLetters": "s3gate:ReplayDeadLetters",
	"AdminBackfill":          "s3gate:Backfill",
	"AdminStats":             "s3gate:GetStats",
}

// unauthorized are the operations no policy judges: they carry no
// credentials to judge (a CORS preflight, an STS call whose token is its
// own proof) or answer an error whatever the caller may do (an unknown
// method).
var unauthorized = map[string]bool{
	"PreflightRequest":          true,
	"AssumeRoleWithWebIdentity": true,
	"Unknown":                   true,
	"AdminUnknown":              true,
}

// perKey are the operations whose handler judges each key itself, because
// one request names many (DeleteObjects) or its key is known only from the
// body (PostObject).
var perKey = map[string]bool{"DeleteObjects": true, "PostObject": true}
