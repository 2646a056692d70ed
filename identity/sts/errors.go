package sts

import (
	"fmt"
	"net/http"
)

// Error is an STS error response: code, message and HTTP status.
type Error struct {
	Code    string
	Message string
	Status  int
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Type is STS's fault classification: Receiver for a failure on s3gate's
// side, Sender for anything wrong with the request.
func (e *Error) Type() string {
	if e.Status >= 500 {
		return "Receiver"
	}
	return "Sender"
}

// The error codes s3gate answers with. Their names and statuses are STS's
// (ExpiredTokenException and the IDP codes are spelled as STS spells them
// on the wire).
const (
	codeAccessDenied         = "AccessDenied"
	codeExpiredToken         = "ExpiredTokenException"
	codeIDPCommunication     = "IDPCommunicationError"
	codeIDPRejectedClaim     = "IDPRejectedClaim"
	codeInternal             = "InternalFailure"
	codeInvalidAction        = "InvalidAction"
	codeInvalidToken         = "InvalidIdentityToken"
	codeMethodNotAllowed     = "MethodNotAllowed"
	codeMissingAction        = "MissingAction"
	codeMissingParameter     = "MissingParameter"
	codePackedPolicyTooLarge = "PackedPolicyTooLarge"
	codeValidation           = "ValidationError"
)

var statuses = map[string]int{
	codeAccessDenied:         http.StatusForbidden,
	codeExpiredToken:         http.StatusBadRequest,
	codeIDPCommunication:     http.StatusBadRequest,
	codeIDPRejectedClaim:     http.StatusForbidden,
	codeInternal:             http.StatusInternalServerError,
	codeInvalidAction:        http.StatusBadRequest,
	codeInvalidToken:         http.StatusBadRequest,
	codeMethodNotAllowed:     http.StatusMethodNotAllowed,
	codeMissingAction:        http.StatusBadRequest,
	codeMissingParameter:     http.StatusBadRequest,
	codePackedPolicyTooLarge: http.StatusBadRequest,
	codeValidation:           http.StatusBadRequest,
}

func newError(code, format string, args ...any) *Error {
	status, ok := statuses[code]
	if !ok {
		panic("sts: unknown error code " + code)
	}
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Status: status}
}

// errAccessDenied is AWS's answer for a role that does not exist; it is the
// same whatever the reason, so it tells nothing about the configuration.
func errAccessDenied() *Error {
	return newError(codeAccessDenied, "Not authorized to perform sts:AssumeRoleWithWebIdentity")
}

// errRejectedClaim does not say which condition failed: the reason is
// logged, while the client learns nothing of the role's conditions.
func errRejectedClaim() *Error {
	return newError(codeIDPRejectedClaim, "The web identity token may not assume this role: its issuer or claims do not meet the role's conditions.")
}

func errInternal() *Error {
	return newError(codeInternal, "The request processing has failed because of an unknown error.")
}
