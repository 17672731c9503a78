# dlibot — see README.md. `make dev` runs everything locally; `make test` runs the tests.
GO      ?= go
BIN     ?= bin/dlibot
PKGS    ?= ./...
BENCHTIME ?= 1s

.PHONY: build test dev bench lint fmt vet clean chaos fuzz

build:
	$(GO) build -trimpath -o $(BIN) ./cmd/dlibot

test:
	$(GO) test -race -count=1 -timeout 9m $(PKGS)

dev: build
	./$(BIN) dev

# bench: every Go benchmark in PKGS with the benchtime it needs, plus the Lambda
# bootstrap size and the autoscale simulator on the presets (bench/run.sh,
# docs/benchmarks.md). Raw output in bin/bench/<pkg>.txt, summary in
# bin/bench/summary.txt. BENCH=regex selects benchmarks; BENCHTIME=… given on
# the command line overrides every benchmark's benchtime; COUNT=n repeats.
# bench-quick: every benchmark once (-benchtime 1x), no extra figures — a
# smoke run that the benchmarks still work.
.PHONY: bench-quick bench-autoscale
bench:
	GO="$(GO)" PKGS="$(PKGS)" BENCH="$(BENCH)" COUNT="$(or $(COUNT),1)" \
		BENCHTIME="$(if $(filter file,$(origin BENCHTIME)),,$(BENCHTIME))" bash bench/run.sh

bench-quick:
	GO="$(GO)" PKGS="$(PKGS)" BENCH="$(BENCH)" BENCHTIME=1x EXTRAS=0 bash bench/run.sh

# bench-autoscale: the autoscale simulator's 18-run matrix (3 presets × seeds
# 1–3 × 4 and 8 weeks) as a Markdown table in bin/bench/autoscale-matrix/.
bench-autoscale:
	GO="$(GO)" bash bench/autoscale-matrix.sh

# chaos: the long form of the chaos harness (docs/reliability.md); the short
# form runs in `make test`. The results table is written to CHAOS_REPORT.
CHAOS_REPORT ?= bin/chaos-report.md
chaos: build
	DLIBOT_BIN=$(CURDIR)/$(BIN) CHAOS_FULL=1 CHAOS_REPORT=$(CURDIR)/$(CHAOS_REPORT) \
		$(GO) test -count=1 -v -timeout 30m -run TestChaos ./chaos

# fuzz: every `go test -fuzz` target in PKGS for FUZZTIME each.
FUZZTIME ?= 30s
fuzz:
	GO=$(GO) FUZZTIME=$(FUZZTIME) PKGS="$(PKGS)" sh chaos/fuzz.sh

lint: fmt vet
	$(GO) mod verify

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

clean:
	rm -rf bin .dlibot

# --- Lambda (template.yaml; docs/deploy.md) ---------------------------------
# `sam build` runs build-<LogicalId> with ARTIFACTS_DIR set (BuildMethod:
# makefile); every function ships the same bootstrap, the Handler picks the
# function. Config files in deploy/lambda/ (rules, policy) ship next to it.
ARTIFACTS_DIR ?= bin/lambda
LAMBDA_GOARCH ?= arm64
LAMBDA_FUNCTIONS := ChatopsFunction JobwatchFunction AutoscaleFunction ObsimportFunction

.PHONY: bootstrap e2e docs $(addprefix build-,$(LAMBDA_FUNCTIONS))

bootstrap:
	mkdir -p $(ARTIFACTS_DIR)
	CGO_ENABLED=0 GOOS=linux GOARCH=$(LAMBDA_GOARCH) $(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w' -o $(ARTIFACTS_DIR)/bootstrap ./cmd/dlibot
	@for f in deploy/lambda/*.yaml; do [ -f "$$f" ] && cp "$$f" $(ARTIFACTS_DIR)/ || true; done

$(addprefix build-,$(LAMBDA_FUNCTIONS)): bootstrap

# The bootstrap under the Lambda Runtime Interface Emulator (also part of `make test`).
e2e:
	$(GO) test -count=1 -v -timeout 5m ./e2e/

# Regenerate docs/config.md from the configuration structs.
docs:
	$(GO) test -count=1 -run '^TestConfigDoc$$' ./cmd/dlibot -update
