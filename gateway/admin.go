package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/s3gate/s3gate/identity"
	"github.com/s3gate/s3gate/identity/keystore"
)

// The admin API administers s3gate itself over JSON. It is served on the
// operations listener under /api/ and authenticated exactly like the S3 API
// (SigV4 with service s3 and the gateway's region, presigned URLs, session
// tokens, bearer tokens). Until a policy engine maps its routes to actions,
// only principals with the admin role may use it.
//
//	POST   /api/v1/keys               create a key; the answer carries its secret, once
//	GET    /api/v1/keys[?user=ID]     list keys (never secrets)
//	GET    /api/v1/keys/{id}          describe one key
//	POST   /api/v1/keys/{id}/disable  stop the key from signing requests
//	POST   /api/v1/keys/{id}/enable   let it sign requests again
//	DELETE /api/v1/keys/{id}          remove it
//
// Errors are {"code", "message", "request_id"}.

// KeyAdmin is the part of the access key store (identity/keystore) the
// admin API uses.
type KeyAdmin interface {
	Create(ctx context.Context, req keystore.CreateRequest) (identity.AccessKey, error)
	Get(ctx context.Context, id string) (keystore.Key, error)
	List(ctx context.Context, principalID string) ([]keystore.Key, error)
	Disable(ctx context.Context, id string) error
	Enable(ctx context.Context, id string) error
	Delete(ctx context.Context, id string) error
}

var _ KeyAdmin = (*keystore.Store)(nil)

// maxAdminBody caps an admin request body; a key's description is at most
// 1 KiB, so a legitimate one is far smaller.
const maxAdminBody = 64 << 10

// KeyInfo is an access key as the admin API and `s3gate keys list --json`
// show it. It has no field for the secret, so a listing cannot leak one.
type KeyInfo struct {
	AccessKeyID string    `json:"access_key_id"`
	User        string    `json:"user"`
	DisplayName string    `json:"display_name"`
	Roles       []string  `json:"roles"`
	Groups      []string  `json:"groups"`
	Description string    `json:"description"`
	Status      string    `json:"status"`
	Created     time.Time `json:"created"`
	Updated     time.Time `json:"updated"`
}

// NewKeyInfo describes k. Empty role and group lists are [] rather than
// null, so clients need not tell the two apart.
func NewKeyInfo(k keystore.Key) KeyInfo {
	return KeyInfo{
		AccessKeyID: k.ID,
		User:        k.Principal.ID,
		DisplayName: k.Principal.DisplayName,
		Roles:       nonNil(k.Principal.Roles),
		Groups:      nonNil(k.Principal.Groups),
		Description: k.Description,
		Status:      string(k.Status),
		Created:     k.Created.UTC(),
		Updated:     k.Updated.UTC(),
	}
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// createdKey answers a key's creation: the one time its secret is shown.
type createdKey struct {
	KeyInfo
	SecretAccessKey string `json:"secret_access_key"`
}

// createKeyRequest is the body of POST /api/v1/keys.
type createKeyRequest struct {
	User        string   `json:"user"`
	DisplayName string   `json:"display_name"`
	Roles       []string `json:"roles"`
	Groups      []string `json:"groups"`
	Description string   `json:"description"`
}

// adminError is an admin API error: its HTTP status, code and message.
type adminError struct {
	status  int
	code    string
	message string
}

func (e *adminError) Error() string { return e.code + ": " + e.message }

// adminErrorBody is the JSON document of an error.
type adminErrorBody struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"request_id"`
}

type adminFunc func(w http.ResponseWriter, r *http.Request) error

type admin struct {
	g    *Gateway
	keys KeyAdmin
}

// AdminHandler serves the admin API over keys. Mount it at /api/ (see
// OpsHandler); it matches full paths. Requests pass the same request id,
// recovery, metrics and access log layers as S3 requests, but not the S3
// concurrency cap: an operator must be able to disable a key while the S3
// listener is saturated.
func (g *Gateway) AdminHandler(keys KeyAdmin) http.Handler {
	a := &admin{g: g, keys: keys}
	type route struct {
		method, op string
		h          adminFunc
	}
	resources := []struct {
		pattern string
		routes  []route
	}{
		{"/api/v1/keys", []route{{http.MethodGet, "AdminListKeys", a.listKeys}, {http.MethodPost, "AdminCreateKey", a.createKey}}},
		{"/api/v1/keys/{id}", []route{{http.MethodGet, "AdminGetKey", a.getKey}, {http.MethodDelete, "AdminDeleteKey", a.deleteKey}}},
		{"/api/v1/keys/{id}/disable", []route{{http.MethodPost, "AdminDisableKey", a.disableKey}}},
		{"/api/v1/keys/{id}/enable", []route{{http.MethodPost, "AdminEnableKey", a.enableKey}}},
		{"/api/v1/objects", []route{{http.MethodGet, "AdminListObjects", a.listObjects}}},
		{"/api/v1/events/dlq", []route{{http.MethodGet, "AdminListDeadLetters", a.listDeadLetters}}},
		{"/api/v1/events/dlq/replay", []route{{http.MethodPost, "AdminReplayDeadLetters", a.replayDeadLetters}}},
		{"/api/v1/events/backfill", []route{{http.MethodPost, "AdminBackfill", a.backfill}}},
		{"/api/v1/search", []route{{http.MethodGet, "AdminSearch", a.search}}},
		{"/api/v1/search/reindex", []route{{http.MethodPost, "AdminReindex", a.reindex}}},
		{"/api/v1/stats", []route{{http.MethodGet, "AdminStats", a.stats}}},
	}
	mux := http.NewServeMux()
	for _, res := range resources {
		var allow []string
		for _, rt := range res.routes {
			mux.Handle(rt.method+" "+res.pattern, a.op(rt.op, rt.h))
			allow = append(allow, rt.method)
			if rt.method == http.MethodGet {
				allow = append(allow, http.MethodHead) // GET patterns serve HEAD too
			}
		}
		// Without a method the pattern catches the others: ServeMux's own
		// 405 answer is plain text.
		slices.Sort(allow)
		mux.Handle(res.pattern, a.op("AdminUnknown", a.methodNotAllowed(allow)))
	}
	mux.Handle("/", a.op("AdminUnknown", a.notFound))
	return g.withRequest(g.recover(g.observe(a.recoverJSON(mux))))
}

// op wraps an admin operation: it names the operation for the log and
// metrics, authenticates and authorizes the request and renders
// the error the handler returns. Unknown routes are authenticated too, so
// that an anonymous caller learns nothing about them.
func (a *admin) op(name string, h adminFunc) http.Handler {
	a.g.ops[name] = true
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := requestState(r.Context())
		st.op = name
		if err := a.g.authenticate(r); err != nil {
			a.writeError(w, r, err)
			return
		}
		if err := a.authorize(r, name); err != nil {
			a.writeError(w, r, err)
			return
		}
		if err := h(w, r); err != nil {
			a.writeError(w, r, err)
		}
	})
}

// judgedByHandler are the admin operations whose handler asks the policy
// what the caller may see, as its answer narrows the answer rather than
// refuses it outright. Without a policy they need the admin role, as the
// rest of the API does.
var judgedByHandler = map[string]bool{"AdminStats": true}

// authorize judges an admin operation by its s3gate:* action when a policy
// is configured; without one, only the admin role may use the API.
// Unknown routes need only authentication: they answer 404 or 405.
func (a *admin) authorize(r *http.Request, op string) error {
	st := requestState(r.Context())
	if a.g.opts.Authorizer != nil {
		if judgedByHandler[op] {
			return nil
		}
		return a.g.authorize(r, op)
	}
	if st.principal == nil || !slices.Contains(st.principal.Roles, identity.RoleAdmin) {
		return &adminError{http.StatusForbidden, "AccessDenied", "Access Denied: the admin API requires a principal with the admin role."}
	}
	return nil
}

func (a *admin) createKey(w http.ResponseWriter, r *http.Request) error {
	var req createKeyRequest
	if err := a.decode(r, &req); err != nil {
		return err
	}
	if req.User == "" {
		return &adminError{http.StatusBadRequest, "InvalidRequest", `"user" is required: the principal the key acts for.`}
	}
	ctx := r.Context()
	k, err := a.keys.Create(ctx, keystore.CreateRequest{
		PrincipalID: req.User, DisplayName: req.DisplayName,
		Roles: req.Roles, Groups: req.Groups, Description: req.Description,
	})
	if err != nil {
		return err
	}
	st := requestState(ctx)
	a.g.log.InfoContext(ctx, "access key created", "request_id", st.id, "access_key", k.ID,
		"user", k.Principal.ID, "roles", k.Principal.Roles, "groups", k.Principal.Groups, "by", st.principal.ID)
	// Create does not return the stored record; read it back so the answer
	// matches later listings. The key exists whatever that read does, and
	// its secret cannot be shown again, so a failed read must not turn the
	// answer into an error.
	now := a.g.now().UTC()
	info := KeyInfo{
		AccessKeyID: k.ID, User: k.Principal.ID, DisplayName: k.Principal.DisplayName,
		Roles: nonNil(k.Principal.Roles), Groups: nonNil(k.Principal.Groups), Description: req.Description,
		Status: string(keystore.Active), Created: now, Updated: now,
	}
	if stored, err := a.keys.Get(ctx, k.ID); err == nil {
		info = NewKeyInfo(stored)
	} else {
		a.g.log.WarnContext(ctx, "reading back a created access key failed; answering without its stored times",
			"request_id", st.id, "access_key", k.ID, "err", err)
	}
	w.Header().Set("Location", "/api/v1/keys/"+k.ID)
	return writeAdminJSON(w, http.StatusCreated, createdKey{KeyInfo: info, SecretAccessKey: k.Secret})
}

func (a *admin) listKeys(w http.ResponseWriter, r *http.Request) error {
	ks, err := a.keys.List(r.Context(), r.URL.Query().Get("user"))
	if err != nil {
		return err
	}
	out := struct {
		Keys []KeyInfo `json:"keys"`
	}{Keys: make([]KeyInfo, 0, len(ks))}
	for _, k := range ks {
		out.Keys = append(out.Keys, NewKeyInfo(k))
	}
	return writeAdminJSON(w, http.StatusOK, out)
}

func (a *admin) getKey(w http.ResponseWriter, r *http.Request) error {
	k, err := a.keys.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeAdminJSON(w, http.StatusOK, NewKeyInfo(k))
}

func (a *admin) disableKey(w http.ResponseWriter, r *http.Request) error {
	return a.setStatus(w, r, "disabled", a.keys.Disable)
}

func (a *admin) enableKey(w http.ResponseWriter, r *http.Request) error {
	return a.setStatus(w, r, "enabled", a.keys.Enable)
}

func (a *admin) setStatus(w http.ResponseWriter, r *http.Request, done string, change func(context.Context, string) error) error {
	ctx, id := r.Context(), r.PathValue("id")
	if err := change(ctx, id); err != nil {
		return err
	}
	a.audit(r, "access key "+done, id)
	k, err := a.keys.Get(ctx, id)
	if err != nil {
		return err
	}
	return writeAdminJSON(w, http.StatusOK, NewKeyInfo(k))
}

func (a *admin) deleteKey(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if err := a.keys.Delete(r.Context(), id); err != nil {
		return err
	}
	a.audit(r, "access key deleted", id)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// audit logs a change to a key and who made it.
func (a *admin) audit(r *http.Request, msg, id string) {
	st := requestState(r.Context())
	a.g.log.InfoContext(r.Context(), msg, "request_id", st.id, "access_key", id, "by", st.principal.ID)
}

func (a *admin) methodNotAllowed(allow []string) adminFunc {
	list := strings.Join(allow, ", ")
	return func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Allow", list)
		return &adminError{http.StatusMethodNotAllowed, "MethodNotAllowed", fmt.Sprintf("The method %s is not allowed on this resource; it allows %s.", r.Method, list)}
	}
}

func (a *admin) notFound(w http.ResponseWriter, r *http.Request) error {
	return &adminError{http.StatusNotFound, "NotFound", "There is no admin API resource at this path."}
}

// decode reads the request body, at most maxAdminBody bytes, into v. The
// whole body is read before it is decoded: a signed payload is verified
// only at its end, and nothing may act on a body that fails verification.
// Unknown fields and trailing data are errors, so a misspelt field is not
// silently dropped.
func (a *admin) decode(r *http.Request, v any) error {
	tooLarge := &adminError{http.StatusRequestEntityTooLarge, "RequestTooLarge", "The request body exceeds " + strconv.Itoa(maxAdminBody) + " bytes."}
	if r.ContentLength > maxAdminBody {
		return tooLarge
	}
	body, err := a.g.body(r)
	if err != nil {
		return err
	}
	b, err := io.ReadAll(io.LimitReader(body, maxAdminBody+1))
	if err != nil {
		return err
	}
	if len(b) > maxAdminBody {
		return tooLarge
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &adminError{http.StatusBadRequest, "MalformedJSON", "The request body is not a valid JSON document of this request: " + strings.TrimPrefix(err.Error(), "json: ")}
	}
	if _, err := dec.Token(); err != io.EOF {
		return &adminError{http.StatusBadRequest, "MalformedJSON", "The request body has data after its JSON document."}
	}
	return nil
}

// writeError renders err as a JSON error. Key store errors get their own
// codes; authentication failures keep the S3 error's code and status;
// anything unknown is InternalError, logged and not echoed.
func (a *admin) writeError(w http.ResponseWriter, r *http.Request, err error) {
	st := requestState(r.Context())
	var ae *adminError
	switch {
	case errors.As(err, &ae):
	case errors.Is(err, keystore.ErrNoSuchKey):
		ae = &adminError{http.StatusNotFound, "NoSuchAccessKey", "The access key does not exist."}
	case errors.Is(err, keystore.ErrStaticKey):
		ae = &adminError{http.StatusConflict, "StaticKey", "The root key, like any key set in the configuration, cannot be changed through the admin API; change it in the configuration."}
	case errors.Is(err, keystore.ErrInvalidRequest):
		ae = &adminError{http.StatusBadRequest, "InvalidRequest", strings.TrimPrefix(err.Error(), keystore.ErrInvalidRequest.Error()+": ")}
	default:
		s3e, internal := toAPIError(err, st)
		if internal {
			a.g.log.ErrorContext(r.Context(), "internal error", "request_id", st.id, "op", st.op, "err", err)
		}
		ae = &adminError{s3e.Status, s3e.Code, s3e.Message}
	}
	st.errCode = ae.code
	if ae.status == 499 {
		return // the client is gone
	}
	if ae.status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeAdminJSON(w, ae.status, adminErrorBody{Code: ae.code, Message: ae.message, RequestID: st.id})
}

// recoverJSON answers a panic in an admin handler with a JSON
// InternalError, as the gateway's recover layer does with XML.
func (a *admin) recoverJSON(next http.Handler) http.Handler {
	return a.g.recoverWith(next, func(w http.ResponseWriter, r *http.Request) {
		ie := s3Error("InternalError")
		a.writeError(w, r, &adminError{ie.Status, ie.Code, ie.Message})
	})
}

// writeAdminJSON sends v. Answers may carry a secret, so none is cached.
func writeAdminJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)+1))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
	return nil
}
