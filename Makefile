# s3gate: the two commands that matter are `make run` and `make test`.

GO          ?= go
BIN         := bin/s3gate
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
TEST_TIMEOUT ?= 20m
FUZZTIME    ?= 10s
# make test ends with a short run of every fuzz target.
TEST_FUZZTIME ?= 10s

.PHONY: build run test lint fuzz clean

build:
	$(GO) build -o $(BIN) ./cmd/s3gate

## run: start s3gate on the embedded default (data in ./data, S3 on 127.0.0.1:9000).
run: build
	./$(BIN) serve

## test: every test: unit, integration and conformance (real clients against a real process),
## then a short run of every fuzz target.
test:
	$(GO) test -race -timeout $(TEST_TIMEOUT) ./...
	@if [ -z "$$S3GATE_TEST_ELASTICSEARCH_URL" ]; then \
	  echo "NOTE: the Elasticsearch search index ran its request-shape tests only: set S3GATE_TEST_ELASTICSEARCH_URL to an Elasticsearch 8 server to run the search suite against it"; \
	else echo "search: the Elasticsearch index ran the search suite against $$S3GATE_TEST_ELASTICSEARCH_URL"; fi
	@$(MAKE) --no-print-directory fuzz FUZZTIME=$(TEST_FUZZTIME)

## lint: gofmt, go vet and a pinned staticcheck.
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

## fuzz: run every fuzz target for FUZZTIME each (make fuzz FUZZTIME=1h for a long run).
## Targets are found in the source (func FuzzX in a _test.go file), not with go test -list,
## which would compile every package's tests once more. A run that ends in Go's own
## "context deadline exceeded" without writing a failing input (a known flake of the
## fuzzing engine at the end of -fuzztime) is run once more; any other failure stops make.
fuzz:
	@set -e; for p in $$($(GO) list -f '{{.ImportPath}}:{{.Dir}}' ./...); do \
	  pkg=$${p%%:*}; dir=$${p#*:}; \
	  for target in $$(cat $$dir/*_test.go 2>/dev/null | sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p'); do \
	    echo "fuzz: $$pkg $$target for $(FUZZTIME)"; \
	    if ! out=$$($(GO) test $$pkg -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 5s 2>&1); then \
	      echo "$$out"; \
	      if echo "$$out" | grep -q 'Failing input written' || ! echo "$$out" | grep -q 'context deadline exceeded'; then exit 1; fi; \
	      echo "fuzz: $$target: the fuzzing engine's own deadline error at the end of the run, no failing input; once more"; \
	      $(GO) test $$pkg -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 5s; \
	    else echo "$$out"; fi; \
	  done; \
	done

clean:
	rm -rf bin

## bench: s3gate against going straight to its S3 backend (versitygw), on loopback and
## behind a 1 Gbit/s link; flags for s3bench in BENCH_FLAGS, e.g.
## make bench BENCH_FLAGS='-duration 10s -only get'. Results: docs/benchmarks.md.
.PHONY: bench
bench: build
	$(GO) build -o bin/s3bench ./cmd/s3bench
	./bin/s3bench -s3gate $(BIN) $(BENCH_FLAGS)
	@echo "== the gateway's own cost per request, in process: policy off / built-in / built-in with its decision cache"
	$(GO) test -run '^$$' -bench 'GetObject4KiB|Decide' -benchmem -benchtime 2s ./gateway ./policy
	@echo "== the event pipeline: events/s through the metadata hook (SQLite, PostgreSQL), the outbox, the worker pool"
	$(GO) test -run '^$$' -bench Pipeline -benchtime 3000x ./processors/metadata ./processors/worker
	$(GO) test -run '^$$' -bench BeginCommit ./processors/outbox
	@echo "== image variants: ms to make three presets of a 12 MP JPEG and a 4 MP PNG"
	$(GO) test -run '^$$' -bench 'Render12MPJPEG$$|Render4MPPNG' -benchtime 5x ./processors/image/render
	@echo "== image variants with the worker pool busy: variants/s, and each photo's wait from event to variants"
	$(GO) test -run '^$$' -bench VariantsPipeline -benchtime 12x ./processors/image
	@echo "== search: a query over 10,000 documents, and documents written per second, in the embedded index"
	$(GO) test -run '^$$' -bench . -benchtime 2s ./processors/search/embedded
	@echo "== analytics: the gateway's cost to record a request, and rows stored per second (SQLite, ClickHouse)"
	$(GO) test -run '^$$' -bench . ./processors/analytics ./processors/analytics/embedded ./processors/analytics/clickhouse
