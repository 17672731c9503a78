# dlibot — see README.md. `make dev` runs everything locally; `make test` runs the tests.
GO      ?= go
BIN     ?= bin/dlibot
PKGS    ?= ./...
BENCHTIME ?= 1s

.PHONY: build test dev bench lint fmt vet clean

build:
	$(GO) build -trimpath -o $(BIN) ./cmd/dlibot

test:
	$(GO) test -race -count=1 -timeout 9m $(PKGS)

dev: build
	./$(BIN) dev

bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) $(PKGS)

lint: fmt vet
	$(GO) mod verify

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

clean:
	rm -rf bin .dlibot
