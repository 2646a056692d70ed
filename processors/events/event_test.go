package events

import (
	"encoding/json"
	"testing"
	"time"
)

// TestRecordShape checks the JSON against S3's event message structure.
func TestRecordShape(t *testing.T) {
	r := New(Change{
		Name: ObjectCreatedPut, Region: "us-east-1", Time: time.Date(2026, 11, 27, 10, 0, 0, 123e6, time.UTC),
		Bucket: "photos", Key: "a b/ü+1.jpg", Size: 1024, ETag: "0123abcd", Sequencer: "0190A1B2C3D40000000100000007",
		Principal: "corp:alice", SourceIP: "10.0.0.7", RequestID: "17F0A0A0A0A0A0A0", HostID: "host", ContentType: "image/jpeg", Auth: "jwt",
	})
	b, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string][]map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	rec := doc["Records"][0]
	for k, want := range map[string]any{
		"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
		"eventTime": "2026-11-27T10:00:00.123Z", "eventName": "ObjectCreated:Put",
	} {
		if rec[k] != want {
			t.Errorf("%s = %v, want %v", k, rec[k], want)
		}
	}
	s3 := rec["s3"].(map[string]any)
	obj := s3["object"].(map[string]any)
	if obj["key"] != "a+b%2F%C3%BC%2B1.jpg" || obj["size"] != float64(1024) || obj["eTag"] != "0123abcd" || obj["sequencer"] != "0190A1B2C3D40000000100000007" {
		t.Errorf("s3.object = %v", obj)
	}
	if s3["bucket"].(map[string]any)["arn"] != "arn:aws:s3:::photos" {
		t.Errorf("s3.bucket = %v", s3["bucket"])
	}
	if rec["userIdentity"].(map[string]any)["principalId"] != "corp:alice" ||
		rec["requestParameters"].(map[string]any)["sourceIPAddress"] != "10.0.0.7" ||
		rec["responseElements"].(map[string]any)["x-amz-request-id"] != "17F0A0A0A0A0A0A0" {
		t.Errorf("identity/request/response: %v", rec)
	}
	if rec["s3gate"].(map[string]any)["contentType"] != "image/jpeg" {
		t.Errorf("s3gate = %v", rec["s3gate"])
	}
	back, err := Unmarshal(b)
	if err != nil || len(back) != 1 || back[0].Key() != "a b/ü+1.jpg" {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
}
