# streamchat: `make` builds every program into bin/, `make test` installs what
# is missing, builds and runs every test, `make run` starts a whole stack.
# SAN=1 builds with AddressSanitizer and UndefinedBehaviorSanitizer.

CC ?= cc
PKGS := libwebsockets hiredis json-c libcurl libuv libpq
SAN ?= 0
VARIANT := $(if $(filter 1,$(SAN)),san,rel)
OBJ := build/$(VARIANT)

CFLAGS_BASE := -std=gnu11 -g -O2 -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
	-D_GNU_SOURCE -Isrc/common
ifeq ($(SAN),1)
CFLAGS_BASE += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
ALL_CFLAGS = $(CFLAGS_BASE) $(PKG_CFLAGS) $(CFLAGS)

PROGRAMS := chat-fcgi ws-relay ai-streamer recoverd archiver chat-cli chat-bench
BINS := $(addprefix bin/,$(PROGRAMS)) bin/unit-tests

COMMON_SRC := $(wildcard src/common/*.c)
COMMON_OBJ := $(COMMON_SRC:src/%.c=$(OBJ)/%.o)

LIBS_chat-fcgi := -lfcgi -lhiredis -ljson-c -lcrypto -lpq
LIBS_ws-relay := -lwebsockets -luv -lhiredis -ljson-c -lcrypto
LIBS_ai-streamer := -luv -lhiredis -ljson-c -lcurl
LIBS_recoverd := -luv -lhiredis
LIBS_archiver := -lhiredis -lpq
LIBS_chat-cli := -ljson-c -lcurl -lcrypto
LIBS_chat-bench := -lhiredis -lpthread
LIBS_unit-tests := -luv -lhiredis -ljson-c -lcrypto

.PHONY: all clean test test-topologies test-asan unit run deps bench bench-archive fuzz soak
.SECONDEXPANSION:
all: $(BINS) build/fake-openai build/ws-poke build/cluster-rw build/cluster-sub build/relay-sub

# Rebuild the programs when switching between SAN=0 and SAN=1.
bin/.variant: FORCE
	@mkdir -p bin
	@[ "$$(cat $@ 2>/dev/null)" = "$(VARIANT)" ] || echo $(VARIANT) > $@
FORCE:

# made afresh, so that a file moved out of src/common leaves no member behind
$(OBJ)/libcommon.a: $(COMMON_OBJ)
	rm -f $@
	ar rcs $@ $^

$(OBJ)/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(OBJ)/t/unit/%.o: t/unit/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Isrc -MMD -MP -c -o $@ $<

define program
bin/$(1): $$(patsubst src/%.c,$$(OBJ)/%.o,$$(wildcard src/$(1)/*.c)) $$(OBJ)/libcommon.a bin/.variant
	$$(CC) $$(LDFLAGS) -o $$@ $$(filter %.o %.a,$$^) $$(LIBS_$(1)) -lm
endef
$(foreach p,$(PROGRAMS),$(eval $(call program,$(p))))

UNIT_SRC := $(wildcard t/unit/*.c)
# the unit tests also cover pure parts of the programs
UNIT_EXTRA := src/ai-streamer/generator.c src/chat-fcgi/request.c src/chat-fcgi/front_request.c src/chat-fcgi/fcgi_params.c src/chat-fcgi/fcgi_scan.c src/chat-cli/reply.c src/ai-streamer/sse.c \
	src/ai-streamer/openai.c src/ws-relay/client_frame.c src/chat-cli/wsclient.c
bin/unit-tests: $(UNIT_SRC:%.c=$(OBJ)/%.o) $(UNIT_EXTRA:src/%.c=$(OBJ)/%.o) $(OBJ)/libcommon.a bin/.variant
	$(CC) $(LDFLAGS) -o $@ $(filter %.o %.a,$^) $(LIBS_unit-tests) -lm

# the stand-in OpenAI-compatible server the tests start (not a program of the suite)
build/fake-openai: t/helpers/fake-openai.c
	@mkdir -p build
	$(CC) -std=gnu11 -O2 -Wall -Wextra -Werror -D_GNU_SOURCE -o $@ $<

# it speaks through chat-cli's WebSocket client
build/ws-poke: t/helpers/ws-poke.c $(OBJ)/chat-cli/wsclient.o $(OBJ)/libcommon.a bin/.variant
	@mkdir -p build
	$(CC) $(ALL_CFLAGS) -Isrc $(LDFLAGS) -o $@ $(filter %.c %.o %.a,$^) -lm

# writes and reads keys through the Redis Cluster layer (t/66)
build/cluster-rw: t/helpers/cluster-rw.c t/helpers/cluster-rw-async.c t/helpers/cluster-rw.h $(OBJ)/libcommon.a bin/.variant
	@mkdir -p build
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $(filter %.c %.o %.a,$^) -luv -lhiredis -lm

# sharded pub/sub through the Cluster subscriber (t/69)
build/cluster-sub: t/helpers/cluster-sub.c $(OBJ)/libcommon.a bin/.variant
	@mkdir -p build
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $(filter %.c %.o %.a,$^) -luv -lhiredis -lm

# the relay's subscriber (src/ws-relay/subscriber.c) fed by append.lua (t/52)
build/relay-sub: t/helpers/relay-sub.c $(OBJ)/ws-relay/subscriber.o $(OBJ)/libcommon.a bin/.variant
	@mkdir -p build
	$(CC) $(ALL_CFLAGS) -Isrc/ws-relay $(LDFLAGS) -o $@ $(filter %.c %.o %.a,$^) -luv -lhiredis -lm

# libFuzzer targets (clang): make fuzz [FUZZ_SECONDS=60]; corpora in t/fuzz/corpus/
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := sse request client_frame jwt front
FUZZ_COMMON := src/common/strbuf.c src/common/validate.c src/common/xalloc.c src/common/log.c
FUZZ_SRC_sse := src/ai-streamer/sse.c src/ai-streamer/openai.c $(FUZZ_COMMON)
FUZZ_SRC_request := src/chat-fcgi/request.c $(FUZZ_COMMON)
FUZZ_SRC_front := src/chat-fcgi/front_request.c src/chat-fcgi/request.c $(FUZZ_COMMON)
FUZZ_SRC_client_frame := src/ws-relay/client_frame.c src/common/frame.c $(FUZZ_COMMON)
FUZZ_SRC_jwt := src/common/jwt.c $(FUZZ_COMMON)
build/fuzz/%: t/fuzz/fuzz_%.c $$(FUZZ_SRC_%)
	@mkdir -p build/fuzz
	clang -std=gnu11 -g -O1 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=undefined -Isrc -Isrc/common \
		-I/usr/include/json-c -o $@ $^ -ljson-c -lcrypto -lm

fuzz: deps $(FUZZ_TARGETS:%=build/fuzz/%)
	@for t in $(FUZZ_TARGETS); do \
		mkdir -p build/fuzz/corpus-$$t && \
		build/fuzz/$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
			build/fuzz/corpus-$$t t/fuzz/corpus/$$t 2>&1 | tail -n 12 || exit 1; \
	done

-include $(shell find build -name '*.d' 2>/dev/null)

deps:
	@sh t/helpers/install-deps.sh

unit: all
	bin/unit-tests

# chat-bench's standard set on a fresh stack; QUICK=1 for a smoke run
bench: deps
	@$(MAKE) --no-print-directory all
	@QUICK=$(QUICK) ONLY="$(ONLY)" t/bench/run

# the archiver's messages/s into PostgreSQL and CPU per message (doc/benchmarks.md)
bench-archive: deps
	@$(MAKE) --no-print-directory all
	@N=$(N) BATCHES="$(BATCHES)" t/bench/archiver

# the chaos soak with its invariant checker (t/soak): SOAK_S seconds of
# faults under a mix of clients; SEED=... replays a run's fault schedule
SOAK_S ?= 600
soak: deps
	@$(MAKE) --no-print-directory all
	@t/soak/run --seconds $(SOAK_S) $(if $(SEED),--seed $(SEED))

test: deps
	@$(MAKE) --no-print-directory all
	@t/run

# t/10, t/20, t/60, t/70 and t/85 again on Redis Sentinel and on a 3-primary
# Redis Cluster (.ci/run runs it after test)
test-topologies: deps
	@$(MAKE) --no-print-directory all
	@t/topologies

test-asan: deps
	@$(MAKE) --no-print-directory SAN=1 all
	@STREAMCHAT_SAN=1 t/run

run: deps
	@$(MAKE) --no-print-directory all
	@bin/chatctl up $(ARGS)

clean:
	rm -rf build $(BINS) bin/.variant
