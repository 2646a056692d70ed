# s3gate: the two commands that matter are `make run` and `make test`.

GO          ?= go
BIN         := bin/s3gate
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
TEST_TIMEOUT ?= 20m
FUZZTIME    ?= 10s

.PHONY: build run test lint fuzz clean

build:
	$(GO) build -o $(BIN) ./cmd/s3gate

## run: start s3gate on the embedded default (data in ./data, S3 on 127.0.0.1:9000).
run: build
	./$(BIN) serve

## test: every test: unit, integration and conformance (real clients against a real process).
test:
	$(GO) test -race -timeout $(TEST_TIMEOUT) ./...

## lint: gofmt, go vet and a pinned staticcheck.
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

## fuzz: run each fuzz target for FUZZTIME (make fuzz FUZZTIME=1h for a long run).
fuzz:
	$(GO) test ./sigv4 -run '^$$' -fuzz '^FuzzParseAuthorization$$' -fuzztime $(FUZZTIME)
	$(GO) test ./sigv4 -run '^$$' -fuzz '^FuzzCanonical$$' -fuzztime $(FUZZTIME)
	$(GO) test ./backends/fs -run '^$$' -fuzz '^FuzzEntryName$$' -fuzztime $(FUZZTIME)

clean:
	rm -rf bin
