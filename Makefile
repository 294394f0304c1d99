# nsmkit - the one entry point.
#
#   make deps      install the Debian packages the build and tests need (only missing ones)
#   make all       build everything under build/
#   make test      deps + all + every test (unit and integration), then again under
#                  ASan/UBSan in $(BUILD)/sanitize
#   make demo      deps + all + the main job end to end on the embedded default setup
#   make bench     benchmarks, printed as ratios against OpenSSL's own speed
#   make fuzz      libFuzzer targets (clang); make fuzz-smoke runs each briefly (fuzz/README.md)
#   make install   PREFIX=/usr/local DESTDIR=
#   make clean
#
# SANITIZE=address,undefined builds (and tests) with sanitizers.

PREFIX ?= /usr/local
DESTDIR ?=
BUILD ?= build
CC ?= cc
SANITIZE ?=

# Flags the project needs; CFLAGS/LDFLAGS from the user are added after them.
WARNINGS := -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wstrict-prototypes \
            -Wmissing-prototypes -Wvla -Wpointer-arith -Wcast-qual -Wundef
ifeq ($(strip $(SANITIZE)),)
  OPTIMISE := -O2 -D_FORTIFY_SOURCE=2
else
  OPTIMISE := -O1 -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
endif
CFLAGS ?= -g
NSM_CFLAGS := -std=c11 -D_GNU_SOURCE -fPIC -pthread $(WARNINGS) $(OPTIMISE) \
              -fstack-protector-strong -MMD -MP \
              -Icommon/include -Ica-tools/include -Insm-sim/include -Iverifier/include
NSM_LDFLAGS := -pthread -Wl,-z,relro,-z,now $(if $(strip $(SANITIZE)),-fsanitize=$(SANITIZE))
LIBS := -lcbor -lcrypto

ALL_CFLAGS = $(NSM_CFLAGS) $(CFLAGS)
ALL_LDFLAGS = $(NSM_LDFLAGS) $(LDFLAGS)

# Debian packages: what building and testing needs.
DEB_PACKAGES := gcc make libc6-dev pkg-config openssl libssl-dev libcbor-dev libcmocka-dev \
                libfuse3-dev xxd valgrind

# ---- components -------------------------------------------------------------------------

COMMON_SRC := common/reader.c common/cbor.c common/util.c common/json.c
CA_SRC     := ca-tools/ca.c
SIM_SRC    := nsm-sim/core.c nsm-sim/attest.c nsm-sim/options.c \
              nsm-sim/transport.c nsm-sim/server.c nsm-sim/device.c nsm-sim/nsmapi.c \
              nsm-sim/envopts.c nsm-sim/libnsm.c nsm-sim/serve.c nsm-sim/exec.c
VERIFY_SRC := verifier/envelope.c verifier/payload.c verifier/chain.c verifier/cose.c \
              verifier/policy.c verifier/verify.c verifier/report.c verifier/aws_root.c

COMMON_LIB := $(BUILD)/lib/libnsmkit-common.a
CA_LIB     := $(BUILD)/lib/libnsmca.a
SIM_LIB    := $(BUILD)/lib/libnsmsim.a
VERIFY_LIB := $(BUILD)/lib/libnsmverify.a

BINS := $(BUILD)/bin/nsm-ca $(BUILD)/bin/nsm-sim $(BUILD)/bin/nsm-verify

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

# Unit tests: tests/test_<module>.c, each linked against every library.
UNIT_TESTS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(wildcard tests/test_*.c))
# Integration tests: tests/it_*.sh, run in name order after the unit tests.
INTEGRATION_TESTS := $(sort $(wildcard tests/it_*.sh))

BENCHES := $(patsubst bench/%.c,$(BUILD)/bench/%,$(wildcard bench/*.c))

.PHONY: all deps test check demo bench install uninstall clean
# Keep objects that only tests and benchmarks use.
.SECONDARY:
.DEFAULT_GOAL := all

all: $(BINS)

# ---- flags stamp: a change of compiler or flags rebuilds everything ----------------------

FLAGS_STAMP := $(BUILD)/.flags
FLAGS_NOW := $(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS)
$(FLAGS_STAMP): FORCE
	@mkdir -p $(@D)
	@echo '$(FLAGS_NOW)' | cmp -s - $@ || echo '$(FLAGS_NOW)' > $@
.PHONY: FORCE
FORCE:

# ---- compile and link ---------------------------------------------------------------------

$(BUILD)/obj/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(COMMON_LIB): $(call obj,$(COMMON_SRC))
$(CA_LIB): $(call obj,$(CA_SRC))
$(SIM_LIB): $(call obj,$(SIM_SRC))
$(VERIFY_LIB): $(call obj,$(VERIFY_SRC))
$(BUILD)/lib/%.a:
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

# Libraries in link order: users first.
STATIC_LIBS := $(VERIFY_LIB) $(SIM_LIB) $(CA_LIB) $(COMMON_LIB)

$(BUILD)/bin/nsm-ca: $(call obj,ca-tools/nsm-ca.c) $(STATIC_LIBS)
$(BUILD)/bin/nsm-sim: $(call obj,nsm-sim/main.c) $(STATIC_LIBS)
$(BUILD)/bin/nsm-verify: $(call obj,verifier/nsm-verify.c) $(STATIC_LIBS)
$(BUILD)/bin/%:
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -pie $(filter %.o,$^) $(STATIC_LIBS) $(ALL_LDFLAGS) $(LIBS) -o $@

# The verifier's tests share a fixture (a simulated PKI and document builder).
$(filter $(BUILD)/tests/test_verify%,$(UNIT_TESTS)): $(call obj,tests/verify_fixture.c)
$(BUILD)/tests/test_%: $(call obj,tests/test_%.c) $(call obj,tests/testutil.c) $(STATIC_LIBS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(filter %.o,$^) $(STATIC_LIBS) $(ALL_LDFLAGS) $(LIBS) -lcmocka -o $@

$(BUILD)/bench/%: $(call obj,bench/%.c) $(STATIC_LIBS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(filter %.o,$^) $(STATIC_LIBS) $(ALL_LDFLAGS) $(LIBS) -o $@

# ---- the simulated /dev/nsm: LD_PRELOAD shim and drop-in libnsm ----------------------------
# Shared objects export only their interface (version scripts); libnsm.a is one relocatable
# object with every symbol but nsm_* made local, so it clashes with nothing in the program.

PRELOAD_SO := $(BUILD)/lib/libnsm-sim-preload.so
LIBNSM_SO  := $(BUILD)/lib/libnsm.so
LIBNSM_A   := $(BUILD)/lib/libnsm.a
NSM_H      := $(BUILD)/include/nsm.h
DEVNSM     := $(PRELOAD_SO) $(LIBNSM_SO) $(LIBNSM_A) $(NSM_H)
all: $(DEVNSM)

$(call obj,nsm-sim/exec.c): ALL_CFLAGS += -DNSMKIT_LIBDIR='"$(PREFIX)/lib"'

$(PRELOAD_SO): $(call obj,nsm-sim/preload.c) $(STATIC_LIBS) nsm-sim/preload.map
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -shared -Wl,--version-script=nsm-sim/preload.map $(filter %.o,$^) \
	    $(STATIC_LIBS) $(ALL_LDFLAGS) $(LIBS) -o $@
$(LIBNSM_SO): $(call obj,nsm-sim/libnsm.c) $(STATIC_LIBS) nsm-sim/libnsm.map
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -shared -Wl,-soname,libnsm.so -Wl,--version-script=nsm-sim/libnsm.map \
	    $(filter %.o,$^) $(STATIC_LIBS) $(ALL_LDFLAGS) $(LIBS) -o $@
$(LIBNSM_A): $(STATIC_LIBS) nsm-sim/libnsm.map
	@mkdir -p $(@D) $(BUILD)/obj/libnsm
	sed -n 's/^ *\(nsm_[a-z_]*\);.*/\1/p' nsm-sim/libnsm.map > $(BUILD)/obj/libnsm/exports
	$(CC) -r -nostdlib $$(sed 's/^/-Wl,-u,/' $(BUILD)/obj/libnsm/exports) $(STATIC_LIBS) \
	    -o $(BUILD)/obj/libnsm/libnsm.o
	objcopy --keep-global-symbols=$(BUILD)/obj/libnsm/exports $(BUILD)/obj/libnsm/libnsm.o
	rm -f $@ && ar rcs $@ $(BUILD)/obj/libnsm/libnsm.o
$(NSM_H): nsm-sim/include/nsm.h
	@mkdir -p $(@D)
	cp $< $@

# Programs the integration tests drive. The nsm.h clients build the way a user builds
# against the drop-in library (only build/include and build/lib), plus our warnings.
TEST_PROGS := $(BUILD)/tests/devnsm_client $(BUILD)/tests/blog_client \
              $(BUILD)/tests/nsm_conformance
$(BUILD)/tests/devnsm_client: $(call obj,tests/devnsm_client.c) $(STATIC_LIBS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(filter %.o,$^) $(STATIC_LIBS) $(ALL_LDFLAGS) $(LIBS) -o $@
$(BUILD)/tests/blog_client $(BUILD)/tests/nsm_conformance: $(BUILD)/tests/%: tests/%.c $(NSM_H) $(LIBNSM_SO)
	@mkdir -p $(@D)
	$(CC) -std=c11 $(WARNINGS) $(OPTIMISE) $(CFLAGS) -I$(BUILD)/include $< -L$(BUILD)/lib -lnsm \
	    -Wl,-rpath,'$$ORIGIN/../lib' $(ALL_LDFLAGS) -o $@

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# ---- packages -------------------------------------------------------------------------------

# Installs only what is missing; as root directly, otherwise through sudo when there is one.
deps:
	@if ! command -v dpkg-query >/dev/null 2>&1; then \
	  echo "deps: not a Debian system; install the equivalents of: $(DEB_PACKAGES)"; exit 0; fi; \
	missing=""; \
	for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' "$$p" 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then echo "deps: all Debian packages present"; exit 0; fi; \
	echo "deps: installing:$$missing"; \
	if [ "$$(id -u)" = 0 ]; then sudo=""; \
	elif command -v sudo >/dev/null 2>&1; then sudo="sudo"; \
	else echo "deps: need root to install:$$missing" >&2; exit 1; fi; \
	$$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing

# ---- tests ------------------------------------------------------------------------------------

# Every test twice: as built for users, then under ASan+UBSan (LeakSanitizer included) in a
# build directory of its own, so that the sanitizer pass is proven on every run.
test:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory check
	@echo "== the same tests under SANITIZE=address,undefined"
	@$(MAKE) --no-print-directory BUILD=$(BUILD)/sanitize SANITIZE=address,undefined check

# Runs every test without touching packages; prints a summary and fails if any test failed.
check: all $(UNIT_TESTS) $(TEST_PROGS)
	@BUILD=$(BUILD) SANITIZE='$(SANITIZE)' sh tests/run.sh $(UNIT_TESTS) $(INTEGRATION_TESTS)

# ---- demo -------------------------------------------------------------------------------------

demo:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory all $(BUILD)/tests/blog_client
	@BUILD=$(BUILD) sh tests/demo.sh

# ---- fuzzing ---------------------------------------------------------------------------------------

# libFuzzer targets: fuzz/fuzz_*.c, with the fixture and checks they share (fuzz/README.md).
#
#   make fuzz         builds every target with clang, the project's flags, ASan+UBSan and
#                     $(LIB_FUZZING_ENGINE), into $(BUILD)/fuzz/bin/
#   make fuzz-smoke   builds, then runs each target for FUZZ_SECONDS from its seeds
#   make fuzz-targets the targets with whatever CC/CFLAGS/BUILD are given (what
#                     .clusterfuzzlite/build.sh calls with the builder's $CC and $CFLAGS)
#
# `make check` replays fuzz/regressions/ and the seed corpora through every target built by
# the project's own compiler with a small main() (fuzz/replay.c): no clang needed.
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_SANITIZE ?= address,undefined
FUZZ_CFLAGS ?= -g -fsanitize=fuzzer-no-link
LIB_FUZZING_ENGINE ?= -fsanitize=fuzzer
FUZZ_LINK ?= $(CC)
FUZZ_DEB_PACKAGES := clang libclang-rt-14-dev

FUZZ_NAMES := $(patsubst fuzz/%.c,%,$(wildcard fuzz/fuzz_*.c))
FUZZ_PKI_FILES := $(sort $(wildcard fuzz/pki/*.conf fuzz/pki/*.pem fuzz/pki/*.key))
FUZZ_EMBED := $(BUILD)/gen/fuzz/pki_embed.c
FUZZ_SUPPORT_OBJ := $(call obj,fuzz/fixture.c fuzz/verify_target.c fuzz/request_check.c) \
                    $(BUILD)/obj/gen/fuzz/pki_embed.o
FUZZ_BINS := $(addprefix $(BUILD)/fuzz/bin/,$(FUZZ_NAMES))
FUZZ_REPLAYS := $(addprefix $(BUILD)/fuzz/replay/,$(FUZZ_NAMES))

$(FUZZ_EMBED): fuzz/gen-embed.sh $(FUZZ_PKI_FILES)
	@mkdir -p $(@D)
	sh fuzz/gen-embed.sh $(FUZZ_PKI_FILES) > $@.tmp && mv $@.tmp $@
$(BUILD)/obj/gen/fuzz/pki_embed.o: $(FUZZ_EMBED) $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Ifuzz -c $< -o $@

# The structure-aware target alone carries the document mutator (its hooks replace
# libFuzzer's mutations).
$(BUILD)/fuzz/bin/fuzz_verify_structured $(BUILD)/fuzz/replay/fuzz_verify_structured: \
    $(call obj,fuzz/doc_mutator.c)
$(BUILD)/fuzz/bin/%: $(call obj,fuzz/%.c) $(FUZZ_SUPPORT_OBJ) $(STATIC_LIBS)
	@mkdir -p $(@D)
	$(FUZZ_LINK) $(ALL_CFLAGS) $(filter %.o,$^) $(STATIC_LIBS) $(LIB_FUZZING_ENGINE) \
	    $(ALL_LDFLAGS) $(LIBS) -o $@
$(BUILD)/fuzz/replay/%: $(call obj,fuzz/%.c) $(call obj,fuzz/replay.c) $(FUZZ_SUPPORT_OBJ) \
    $(STATIC_LIBS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(filter %.o,$^) $(STATIC_LIBS) $(ALL_LDFLAGS) $(LIBS) -o $@

# make check replays fuzz/regressions/ and the seeds through these (tests/it_fuzz_replay.sh).
check: $(FUZZ_REPLAYS)

.PHONY: fuzz fuzz-targets fuzz-smoke
fuzz-targets: $(FUZZ_BINS)

FUZZ_BUILD = $(BUILD)/fuzz-build
fuzz:
	@$(MAKE) --no-print-directory deps DEB_PACKAGES="$(FUZZ_DEB_PACKAGES)"
	@$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=$(FUZZ_CC) SANITIZE=$(FUZZ_SANITIZE) \
	    CFLAGS="$(FUZZ_CFLAGS)" LIB_FUZZING_ENGINE="$(LIB_FUZZING_ENGINE)" fuzz-targets
	@echo "fuzz: targets in $(FUZZ_BUILD)/fuzz/bin/"

# Each target for FUZZ_SECONDS (CI: at most 60) from its seeds and dictionary; new inputs
# go to $(BUILD)/fuzz-corpus/<target>/, crashes to $(BUILD)/fuzz-artifacts/, the whole
# output to $(BUILD)/fuzz-logs/. Not part of `make test` (which replays fuzz/regressions/
# and the seeds without clang): nine targets for a minute each is CI's job.
fuzz-smoke: fuzz
	@mkdir -p $(BUILD)/fuzz-artifacts $(BUILD)/fuzz-logs
	@for name in $(FUZZ_NAMES); do t=$(FUZZ_BUILD)/fuzz/bin/$$name; log=$(BUILD)/fuzz-logs/$$name.log; \
	  mkdir -p $(BUILD)/fuzz-corpus/$$name; \
	  dict=""; [ -f fuzz/dict/$$name.dict ] && dict="-dict=fuzz/dict/$$name.dict"; \
	  $$t -max_total_time=$(FUZZ_SECONDS) -max_len=16384 -rss_limit_mb=2048 -timeout=30 \
	    -print_final_stats=1 $$dict -artifact_prefix=$(BUILD)/fuzz-artifacts/$$name- \
	    $(BUILD)/fuzz-corpus/$$name fuzz/corpus/$$name > $$log 2>&1; rc=$$?; \
	  echo "$$name: $$(grep -E '^#[0-9]+[[:space:]]+DONE' $$log | sed 's/[[:space:]]*lim:.*//')" \
	    "($$(sed -n 's/^stat::average_exec_per_sec: *//p' $$log) exec/s)"; \
	  if [ $$rc -ne 0 ]; then echo "fuzz-smoke: $$name failed (exit $$rc); see $$log"; \
	    grep -E 'ERROR|SUMMARY|Test unit written' $$log | head -5; exit 1; fi; \
	done

# ---- benchmarks -------------------------------------------------------------------------------

$(BENCHES): $(PRELOAD_SO)
bench: all $(BENCHES)
	@for b in $(BENCHES); do echo "== $$b"; $$b || exit 1; done

# ---- install ----------------------------------------------------------------------------------

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include
	install -m 0755 $(BINS) $(DESTDIR)$(PREFIX)/bin/
	install -m 0755 $(PRELOAD_SO) $(LIBNSM_SO) $(DESTDIR)$(PREFIX)/lib/
	install -m 0644 $(LIBNSM_A) $(DESTDIR)$(PREFIX)/lib/
	install -m 0644 $(NSM_H) $(DESTDIR)$(PREFIX)/include/

uninstall:
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/bin/,$(notdir $(BINS)))
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/lib/,$(notdir $(PRELOAD_SO) $(LIBNSM_SO) $(LIBNSM_A)))
	rm -f $(DESTDIR)$(PREFIX)/include/nsm.h

clean:
	rm -rf $(BUILD)
