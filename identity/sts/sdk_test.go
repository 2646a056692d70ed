package sts

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssts "github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/aws/smithy-go"
)

// The AWS SDK for Go, as a client would use it, reads s3gate's answers.
func TestAWSSDKClient(t *testing.T) {
	f := newFixture(t, nil)
	srv := httptest.NewServer(f.svc)
	defer srv.Close()
	client := awssts.New(awssts.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		HTTPClient:   srv.Client(),
		Retryer:      aws.NopRetryer{},
	})
	ctx := context.Background()

	out, err := client.AssumeRoleWithWebIdentity(ctx, &awssts.AssumeRoleWithWebIdentityInput{
		RoleArn:          aws.String(roleARN("web-admin")),
		RoleSessionName:  aws.String("ada@example.com"),
		WebIdentityToken: aws.String(f.adaToken(t)),
		DurationSeconds:  aws.Int32(7200),
	})
	if err != nil {
		t.Fatal(err)
	}
	c := out.Credentials
	if c == nil || c.Expiration == nil || !c.Expiration.Equal(t0.Add(2*time.Hour)) {
		t.Fatalf("credentials %+v", c)
	}
	k, err := f.svc.SessionKey(aws.ToString(c.AccessKeyId), aws.ToString(c.SessionToken), t0)
	if err != nil || k.Secret != aws.ToString(c.SecretAccessKey) {
		t.Fatalf("the SDK's credentials do not open: %v", err)
	}
	if aws.ToString(out.AssumedRoleUser.Arn) != "arn:aws:sts::000000000000:assumed-role/web-admin/ada@example.com" ||
		aws.ToString(out.SubjectFromWebIdentityToken) != "8d5a0f3e-2b47-4c1e-9a61-0e2f7c4b9d13" ||
		aws.ToString(out.Provider) != "https://idp.example.com/realms/corp" || aws.ToString(out.Audience) != "s3gate" {
		t.Errorf("result %+v %+v", out, out.AssumedRoleUser)
	}

	// Errors arrive as the SDK's typed errors.
	call := func(arn, token string) error {
		_, err := client.AssumeRoleWithWebIdentity(ctx, &awssts.AssumeRoleWithWebIdentityInput{
			RoleArn: aws.String(arn), RoleSessionName: aws.String("ada"), WebIdentityToken: aws.String(token),
		})
		return err
	}
	var rejected *types.IDPRejectedClaimException
	if err := call(partnerARN, f.adaToken(t)); !errors.As(err, &rejected) {
		t.Errorf("issuer may not assume the role: %v", err)
	}
	var invalid *types.InvalidIdentityTokenException
	if err := call(roleARN("web-admin"), f.partner.sign(t, f.adaClaims())); !errors.As(err, &invalid) {
		t.Errorf("forged token: %v", err)
	}
	cl := f.adaClaims()
	cl["exp"] = t0.Unix()
	var expired *types.ExpiredTokenException
	if err := call(roleARN("web-admin"), f.corp.sign(t, cl)); !errors.As(err, &expired) {
		t.Errorf("expired token: %v", err)
	}
	var api smithy.APIError
	if err := call(roleARN("nobody-here"), f.adaToken(t)); !errors.As(err, &api) || api.ErrorCode() != "AccessDenied" {
		t.Errorf("unknown role: %v", err)
	}
}
