package s3

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	s3sdk "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3gate/s3gate/backends"
)

// DeleteObject deletes a key; with opts.IfMatch the backend checks the
// ETag and deletes atomically. S3 answers a conditional delete of a
// missing key with success, so a HEAD first tells ErrNoSuchKey (the
// condition itself is still decided by the backend).
func (s *Store) DeleteObject(ctx context.Context, bucket, key string, opts backends.DeleteOptions) error {
	l, err := s.bucket(bucket)
	if err != nil {
		return err
	}
	if err := backends.CheckKey(key); err != nil {
		return err
	}
	if err := s.checkMarker(ctx, l); err != nil {
		return err
	}
	in := &s3sdk.DeleteObjectInput{Bucket: aws.String(l.bucket), Key: aws.String(l.key(key))}
	var extra []func(*s3sdk.Options)
	if opts.IfMatch != "" {
		info, err := s.headRaw(ctx, l, key, backends.GetOptions{})
		if err != nil {
			return err
		}
		if !backends.ETagListMatches(opts.IfMatch, info.ETag) {
			return backends.ErrPreconditionFail
		}
		in.IfMatch = quote(info.ETag)
		extra = append(extra, oneAttempt)
	}
	cctx, cancel := s.call(ctx, 1)
	defer cancel()
	_, err = s.client.DeleteObject(cctx, in, extra...)
	return mapErr(ctx, err)
}

// GetObjectTagging returns an object's tags.
func (s *Store) GetObjectTagging(ctx context.Context, bucket, key string) (map[string]string, error) {
	l, err := s.bucket(bucket)
	if err != nil {
		return nil, err
	}
	if err := backends.CheckKey(key); err != nil {
		return nil, err
	}
	cctx, cancel := s.call(ctx, 1)
	defer cancel()
	out, err := s.client.GetObjectTagging(cctx, &s3sdk.GetObjectTaggingInput{Bucket: aws.String(l.bucket), Key: aws.String(l.key(key))})
	if err != nil {
		return nil, s.objectErr(ctx, l, mapErr(ctx, err))
	}
	tags := make(map[string]string, len(out.TagSet))
	for _, t := range out.TagSet {
		tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return tags, nil
}

// PutObjectTagging replaces an object's tags (DeleteObjectTagging for
// none).
func (s *Store) PutObjectTagging(ctx context.Context, bucket, key string, tags map[string]string) error {
	l, err := s.bucket(bucket)
	if err != nil {
		return err
	}
	if err := backends.CheckKey(key); err != nil {
		return err
	}
	cctx, cancel := s.call(ctx, 1)
	defer cancel()
	if len(tags) == 0 {
		// DeleteObjectTagging succeeds on a missing key in some servers:
		// look first.
		if _, err := s.head(ctx, l, key, backends.GetOptions{}); err != nil {
			return err
		}
		_, err = s.client.DeleteObjectTagging(cctx, &s3sdk.DeleteObjectTaggingInput{Bucket: aws.String(l.bucket), Key: aws.String(l.key(key))})
		return s.objectErr(ctx, l, mapErr(ctx, err))
	}
	set := make([]types.Tag, 0, len(tags))
	for k, v := range tags {
		set = append(set, types.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	_, err = s.client.PutObjectTagging(cctx, &s3sdk.PutObjectTaggingInput{Bucket: aws.String(l.bucket), Key: aws.String(l.key(key)),
		Tagging: &types.Tagging{TagSet: set}})
	return s.objectErr(ctx, l, mapErr(ctx, err))
}
