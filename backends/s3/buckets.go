package s3

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	s3sdk "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3gate/s3gate/backends"
)

// ListBuckets lists the gateway buckets that exist: whole backend buckets
// reached by name or by mapping, and prefixed buckets whose marker exists.
// Backend buckets that hold prefixed buckets are not buckets of their own.
func (s *Store) ListBuckets(ctx context.Context) ([]backends.BucketInfo, error) {
	cctx, cancel := s.call(ctx, 1)
	defer cancel()
	var all []types.Bucket
	in := &s3sdk.ListBucketsInput{}
	for {
		out, err := s.client.ListBuckets(cctx, in)
		if err != nil {
			return nil, mapErr(ctx, err)
		}
		all = append(all, out.Buckets...)
		if aws.ToString(out.ContinuationToken) == "" {
			break
		}
		in.ContinuationToken = out.ContinuationToken
	}
	created := make(map[string]time.Time, len(all))
	for _, b := range all {
		created[aws.ToString(b.Name)] = aws.ToTime(b.CreationDate)
	}

	// Candidates: every explicit mapping, and every name the template
	// can produce from what the backend holds.
	cands := map[string]loc{}
	for name := range s.buckets.explicit {
		if l, err := s.buckets.resolve(name); err == nil {
			cands[name] = l
		}
	}
	tb, tp := s.buckets.template.Bucket, s.buckets.template.Prefix
	if strings.Contains(tb, "*") {
		head, tail, _ := strings.Cut(tb, "*")
		for name := range created {
			if g, ok := strings.CutPrefix(name, head); ok {
				if g, ok = strings.CutSuffix(g, tail); ok {
					if l, err := s.buckets.resolve(g); err == nil && l.bucket == name {
						cands[g] = l
					}
				}
			}
		}
	} else if _, ok := created[tb]; ok && strings.Contains(tp, "*") {
		names, err := s.templateNames(ctx, tb, tp)
		if err != nil {
			return nil, err
		}
		for _, g := range names {
			if l, err := s.buckets.resolve(g); err == nil {
				cands[g] = l
			}
		}
	}

	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		res  []backends.BucketInfo
		sem  = make(chan struct{}, 8)
		ferr error
	)
	for name, l := range cands {
		t, ok := created[l.bucket]
		if !ok {
			continue
		}
		if !l.prefixed() {
			mu.Lock()
			res = append(res, backends.BucketInfo{Name: name, Created: t})
			mu.Unlock()
			continue
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			info, err := s.markerInfo(ctx, l)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				res = append(res, backends.BucketInfo{Name: name, Created: info})
			case !errors.Is(err, backends.ErrNoSuchBucket) && ferr == nil:
				ferr = err
			}
		})
	}
	wg.Wait()
	if ferr != nil {
		return nil, ferr
	}
	slices.SortFunc(res, func(a, b backends.BucketInfo) int { return strings.Compare(a.Name, b.Name) })
	return res, nil
}

// templateNames lists the names of prefixed buckets a "*" template places
// in backend bucket b: the common prefixes before the "/" that follows the
// name.
func (s *Store) templateNames(ctx context.Context, b, tp string) ([]string, error) {
	head, _, _ := strings.Cut(tp, "*")
	var names []string
	in := &s3sdk.ListObjectsV2Input{Bucket: aws.String(b), Prefix: aws.String(head), Delimiter: aws.String("/")}
	for {
		cctx, cancel := s.call(ctx, 1)
		out, err := s.client.ListObjectsV2(cctx, in)
		cancel()
		if err != nil {
			return nil, mapErr(ctx, err)
		}
		for _, cp := range out.CommonPrefixes {
			name := strings.TrimSuffix(strings.TrimPrefix(aws.ToString(cp.Prefix), head), "/")
			if backends.ValidBucketName(name) {
				names = append(names, name)
			}
		}
		if !aws.ToBool(out.IsTruncated) || out.NextContinuationToken == nil {
			return names, nil
		}
		in.ContinuationToken = out.NextContinuationToken
	}
}

// CreateBucket creates the backend bucket, or for a prefixed bucket its
// marker (creating the backend bucket first if needed).
func (s *Store) CreateBucket(ctx context.Context, bucket string) error {
	l, err := s.resolveOr(bucket, backends.ErrInvalidBucket)
	if err != nil {
		return err
	}
	if !l.prefixed() {
		return s.createBackendBucket(ctx, l.bucket)
	}
	if err := s.createBackendBucket(ctx, l.bucket); err != nil && !errors.Is(err, backends.ErrBucketExists) {
		return err
	}
	in := &s3sdk.PutObjectInput{Bucket: aws.String(l.bucket), Key: aws.String(l.marker()),
		Body: bytes.NewReader(nil), ContentLength: aws.Int64(0)}
	if s.caps.ConditionalWrites {
		in.IfNoneMatch = aws.String("*")
	} else if err := s.checkMarker(ctx, l); err == nil {
		return backends.ErrBucketExists
	}
	cctx, cancel := s.call(ctx, 1)
	defer cancel()
	_, err = s.client.PutObject(cctx, in, oneAttempt)
	err = mapErr(ctx, err)
	if errors.Is(err, backends.ErrPreconditionFail) {
		return backends.ErrBucketExists
	}
	return err
}

func (s *Store) createBackendBucket(ctx context.Context, name string) error {
	in := &s3sdk.CreateBucketInput{Bucket: aws.String(name)}
	if r := s.client.Options().Region; r != "" && r != "us-east-1" {
		in.CreateBucketConfiguration = &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraint(r)}
	}
	cctx, cancel := s.call(ctx, 1)
	defer cancel()
	_, err := s.client.CreateBucket(cctx, in, oneAttempt)
	return mapErr(ctx, err)
}

// HeadBucket reports a bucket's creation time (a prefixed bucket's is its
// marker's).
func (s *Store) HeadBucket(ctx context.Context, bucket string) (backends.BucketInfo, error) {
	l, err := s.bucket(bucket)
	if err != nil {
		return backends.BucketInfo{}, err
	}
	if l.prefixed() {
		t, err := s.markerInfo(ctx, l)
		if err != nil {
			return backends.BucketInfo{}, err
		}
		return backends.BucketInfo{Name: bucket, Created: t}, nil
	}
	if err := s.headBucket(ctx, l); err != nil {
		return backends.BucketInfo{}, err
	}
	// HeadBucket has no creation time; ListBuckets does.
	cctx, cancel := s.call(ctx, 1)
	defer cancel()
	in := &s3sdk.ListBucketsInput{Prefix: aws.String(l.bucket)}
	for {
		out, err := s.client.ListBuckets(cctx, in)
		if err != nil {
			return backends.BucketInfo{}, mapErr(ctx, err)
		}
		for _, b := range out.Buckets {
			if aws.ToString(b.Name) == l.bucket {
				return backends.BucketInfo{Name: bucket, Created: aws.ToTime(b.CreationDate)}, nil
			}
		}
		if aws.ToString(out.ContinuationToken) == "" {
			return backends.BucketInfo{Name: bucket}, nil
		}
		in.ContinuationToken = out.ContinuationToken
	}
}

// headBucket checks the backend bucket exists.
func (s *Store) headBucket(ctx context.Context, l loc) error {
	cctx, cancel := s.call(ctx, 1)
	defer cancel()
	_, err := s.client.HeadBucket(cctx, &s3sdk.HeadBucketInput{Bucket: aws.String(l.bucket)})
	err = mapErr(ctx, err)
	if errors.Is(err, backends.ErrNoSuchKey) {
		return classify(backends.ErrNoSuchBucket, err)
	}
	return err
}

// markerInfo reads a prefixed bucket's marker: its time is the bucket's
// creation.
func (s *Store) markerInfo(ctx context.Context, l loc) (time.Time, error) {
	cctx, cancel := s.call(ctx, 1)
	defer cancel()
	out, err := s.client.HeadObject(cctx, &s3sdk.HeadObjectInput{Bucket: aws.String(l.bucket), Key: aws.String(l.marker())})
	if err != nil {
		err = mapErr(ctx, err)
		if errors.Is(err, backends.ErrNoSuchKey) || errors.Is(err, backends.ErrNoSuchBucket) {
			return time.Time{}, classify(backends.ErrNoSuchBucket, err)
		}
		return time.Time{}, err
	}
	return aws.ToTime(out.LastModified), nil
}

// checkMarker returns ErrNoSuchBucket when a prefixed bucket does not
// exist; nil for a whole backend bucket (the backend answers for it).
func (s *Store) checkMarker(ctx context.Context, l loc) error {
	if !l.prefixed() {
		return nil
	}
	_, err := s.markerInfo(ctx, l)
	return err
}

// objectErr turns a key's or an upload's absence into the bucket's when
// the bucket is what is missing (prefixed buckets: the backend cannot
// know).
func (s *Store) objectErr(ctx context.Context, l loc, err error) error {
	if !l.prefixed() || !(errors.Is(err, backends.ErrNoSuchKey) || errors.Is(err, backends.ErrNoSuchUpload)) {
		return err
	}
	if merr := s.checkMarker(ctx, l); errors.Is(merr, backends.ErrNoSuchBucket) {
		return merr
	}
	return err
}

// DeleteBucket deletes an empty bucket, aborting its multipart uploads
// first (uploads do not keep an S3 bucket alive). For a prefixed bucket
// the emptiness check and the marker's removal are two calls: a PUT
// racing the delete may land in between (see the package documentation).
func (s *Store) DeleteBucket(ctx context.Context, bucket string) error {
	l, err := s.bucket(bucket)
	if err != nil {
		return err
	}
	if err := s.checkMarker(ctx, l); err != nil {
		return err
	}
	page, err := s.listObjects(ctx, l, backends.ListOptions{MaxKeys: 1})
	if err != nil {
		return err
	}
	if len(page.Objects)+len(page.CommonPrefixes) > 0 {
		return backends.ErrBucketNotEmpty
	}
	if err := s.abortAll(ctx, l); err != nil {
		return err
	}
	cctx, cancel := s.call(ctx, 1)
	defer cancel()
	if l.prefixed() {
		_, err = s.client.DeleteObject(cctx, &s3sdk.DeleteObjectInput{Bucket: aws.String(l.bucket), Key: aws.String(l.marker())})
		return mapErr(ctx, err)
	}
	_, err = s.client.DeleteBucket(cctx, &s3sdk.DeleteBucketInput{Bucket: aws.String(l.bucket)})
	return mapErr(ctx, err)
}

// abortAll aborts every upload in a bucket.
func (s *Store) abortAll(ctx context.Context, l loc) error {
	opts := backends.ListUploadsOptions{MaxUploads: 1000}
	for {
		page, err := s.listUploads(ctx, l, opts)
		if err != nil {
			return err
		}
		for _, u := range page.Uploads {
			cctx, cancel := s.call(ctx, 1)
			_, err := s.client.AbortMultipartUpload(cctx, &s3sdk.AbortMultipartUploadInput{
				Bucket: aws.String(l.bucket), Key: aws.String(l.key(u.Key)), UploadId: aws.String(u.UploadID)})
			cancel()
			if err := mapErr(ctx, err); err != nil && !errors.Is(err, backends.ErrNoSuchUpload) {
				return err
			}
			s.forgetUpload(u.UploadID)
		}
		if !page.IsTruncated {
			return nil
		}
		opts.KeyMarker, opts.UploadIDMarker = page.NextKeyMarker, page.NextUploadIDMarker
	}
}
