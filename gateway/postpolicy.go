package gateway

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// postPolicy is the policy document of a browser form upload: when it
// expires and the conditions every form field must meet.
type postPolicy struct {
	expiration time.Time
	conditions []policyCondition
	// lengthRange is content-length-range; max < 0 when absent.
	minLength, maxLength int64
}

// policyCondition is one condition on a form field: "eq" or "starts-with"
// (an {"field": "value"} object is "eq").
type policyCondition struct {
	op    string
	field string // lower case, without "$"
	value string
	raw   string // as written, for error messages
}

// maxPolicy bounds the policy document (decoded).
const maxPolicy = 20 << 10

func policyError(msg string, args ...any) error {
	return s3Error("InvalidPolicyDocument", append([]any{"Invalid Policy: " + msg}, args...)...)
}

// parsePostPolicy decodes the base64 policy document.
func parsePostPolicy(b64 string) (*postPolicy, error) {
	if len(b64) > 2*maxPolicy {
		return nil, policyError("Policy too large.")
	}
	doc, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, policyError("Invalid Base64 encoding.")
	}
	var raw struct {
		Expiration string            `json:"expiration"`
		Conditions []json.RawMessage `json:"conditions"`
	}
	if err := json.Unmarshal(doc, &raw); err != nil {
		return nil, policyError("Invalid JSON.")
	}
	exp, err := time.Parse(time.RFC3339, raw.Expiration)
	if err != nil {
		return nil, policyError("Invalid 'expiration' value: '%s'", raw.Expiration)
	}
	p := &postPolicy{expiration: exp, maxLength: -1}
	for _, c := range raw.Conditions {
		if err := p.addCondition(c); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (p *postPolicy) addCondition(c json.RawMessage) error {
	var obj map[string]string
	if json.Unmarshal(c, &obj) == nil {
		if len(obj) != 1 {
			return policyError("Invalid Simple-Condition: Simple-Conditions must have exactly one property specified.")
		}
		for k, v := range obj {
			p.conditions = append(p.conditions, policyCondition{op: "eq", field: strings.ToLower(strings.TrimPrefix(k, "$")), value: v, raw: string(c)})
		}
		return nil
	}
	var arr []json.RawMessage
	if err := json.Unmarshal(c, &arr); err != nil || len(arr) != 3 {
		return policyError("Invalid condition: %s", c)
	}
	var op string
	if err := json.Unmarshal(arr[0], &op); err != nil {
		return policyError("Invalid condition: %s", c)
	}
	switch op = strings.ToLower(op); op {
	case "content-length-range":
		lo, err1 := jsonInt(arr[1])
		hi, err2 := jsonInt(arr[2])
		if err1 != nil || err2 != nil || lo < 0 || hi < lo {
			return policyError("Invalid content-length-range condition: %s", c)
		}
		p.minLength, p.maxLength = lo, hi
	case "eq", "starts-with":
		var field, value string
		if json.Unmarshal(arr[1], &field) != nil || json.Unmarshal(arr[2], &value) != nil || !strings.HasPrefix(field, "$") {
			return policyError("Invalid condition: %s", c)
		}
		p.conditions = append(p.conditions, policyCondition{op: op, field: strings.ToLower(field[1:]), value: value, raw: string(c)})
	default:
		return policyError("Invalid condition: unknown operation %q.", op)
	}
	return nil
}

// jsonInt reads a JSON number or a string holding one (both occur).
func jsonInt(m json.RawMessage) (int64, error) {
	var n json.Number
	if err := json.Unmarshal(m, &n); err == nil {
		return n.Int64()
	}
	var s string
	if err := json.Unmarshal(m, &s); err != nil {
		return 0, err
	}
	return strconv.ParseInt(s, 10, 64)
}

// formExempt are the fields no condition needs to cover.
func formExempt(name string) bool {
	return name == "x-amz-signature" || name == "file" || name == "policy" || strings.HasPrefix(name, "x-ignore-")
}

// check enforces the policy on the form: not expired, every condition met,
// and every field (but the exempt ones) named by some condition. fields
// has lower-case names; bucket is the request's bucket.
func (p *postPolicy) check(fields map[string]string, bucket string, now time.Time) error {
	if !now.Before(p.expiration) {
		return s3Error("AccessDenied", "Invalid according to Policy: Policy expired.")
	}
	covered := map[string]bool{}
	for _, c := range p.conditions {
		covered[c.field] = true
		v, ok := fields[c.field]
		if c.field == "bucket" {
			v, ok = bucket, true
		}
		switch {
		case !ok && !(c.op == "starts-with" && c.value == ""):
			return s3Error("AccessDenied", "Invalid according to Policy: Policy Condition failed: %s", c.raw)
		case c.op == "eq" && v != c.value,
			c.op == "starts-with" && !strings.HasPrefix(v, c.value):
			return s3Error("AccessDenied", "Invalid according to Policy: Policy Condition failed: %s", c.raw)
		}
	}
	var extra []string
	for name := range fields {
		if !covered[name] && !formExempt(name) {
			extra = append(extra, name)
		}
	}
	if len(extra) > 0 {
		return s3Error("AccessDenied", "Invalid according to Policy: Extra input fields: %s", strings.Join(extra, ", "))
	}
	return nil
}

// lengthChecker enforces content-length-range on the file as it streams.
type lengthChecker struct {
	r        io.Reader
	min, max int64
	n        int64
}

func (l *lengthChecker) Read(b []byte) (int, error) {
	n, err := l.r.Read(b)
	l.n += int64(n)
	if l.max >= 0 && l.n > l.max {
		return n, s3Error("EntityTooLarge", "Your proposed upload exceeds the maximum allowed size").
			with("ProposedSize", fmt.Sprint(l.n)).with("MaxSizeAllowed", fmt.Sprint(l.max))
	}
	if err == io.EOF && l.n < l.min {
		return n, s3Error("EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size").
			with("ProposedSize", fmt.Sprint(l.n)).with("MinSizeAllowed", fmt.Sprint(l.min))
	}
	return n, err
}
