# nsmkit - the one entry point.
#
#   make deps      install the Debian packages the build and tests need (only missing ones)
#   make all       build everything under build/
#   make test      deps + all + every test (unit and integration), then again under
#                  ASan/UBSan in $(BUILD)/sanitize
#   make demo      deps + all + the main job end to end on the embedded default setup
#   make bench     benchmarks, printed as ratios against OpenSSL's own speed
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
LIBS := -lcbor -lcrypto -ljansson

ALL_CFLAGS = $(NSM_CFLAGS) $(CFLAGS)
ALL_LDFLAGS = $(NSM_LDFLAGS) $(LDFLAGS)

# Debian packages: what building and testing needs.
DEB_PACKAGES := gcc make libc6-dev pkg-config openssl libssl-dev libcbor-dev libcmocka-dev \
                libfuse3-dev libjansson-dev xxd

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

# ---- nsm-kms: a local KMS for secret injection (issue 13) ----------------------------------
# HTTP from libmicrohttpd, JSON from jansson (in LIBS: common/json.c uses it too); its tests drive it with Debian's AWS CLI and boto3.

DEB_PACKAGES += libmicrohttpd-dev awscli python3-boto3
KMS_SRC  := kms/errors.c kms/service.c kms/policy.c kms/sigv4.c kms/blob.c kms/base64.c kms/recipient.c \
            kms/store.c kms/http.c
KMS_LIB  := $(BUILD)/lib/libnsmkms.a
KMS_LIBS := -lmicrohttpd
$(KMS_LIB): $(call obj,$(KMS_SRC))
BINS += $(BUILD)/bin/nsm-kms
all: $(BUILD)/bin/nsm-kms

$(BUILD)/bin/nsm-kms: $(call obj,kms/main.c) $(KMS_LIB) $(STATIC_LIBS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -pie $(filter %.o,$^) $(KMS_LIB) $(STATIC_LIBS) $(ALL_LDFLAGS) \
	    $(KMS_LIBS) $(LIBS) -o $@
$(BUILD)/tests/test_kms_%: $(call obj,tests/test_kms_%.c) $(call obj,tests/testutil.c) \
                           $(call obj,tests/verify_fixture.c) $(KMS_LIB) $(STATIC_LIBS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(filter %.o,$^) $(KMS_LIB) $(STATIC_LIBS) $(ALL_LDFLAGS) $(KMS_LIBS) \
	    $(LIBS) -lcmocka -o $@
$(BUILD)/bench/kms_%: $(call obj,bench/kms_%.c) $(KMS_LIB) $(STATIC_LIBS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(filter %.o,$^) $(KMS_LIB) $(STATIC_LIBS) $(ALL_LDFLAGS) $(KMS_LIBS) \
	    $(LIBS) -o $@
# The enclave program of the secret-injection flow: built like a user's enclave application
# against the drop-in nsm.h and libnsm, with OpenSSL, jansson and the project's SigV4 signer.
KMS_ENCLAVE := $(BUILD)/tests/kms_enclave
TEST_PROGS += $(KMS_ENCLAVE)
$(KMS_ENCLAVE): $(call obj,tests/kms_enclave.c) $(call obj,kms/sigv4.c) $(call obj,kms/base64.c) $(call obj,kms/errors.c) $(STATIC_LIBS) $(LIBNSM_SO)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(filter %.o,$^) -L$(BUILD)/lib -lnsm -Wl,-rpath,'$$ORIGIN/../lib' \
	    $(COMMON_LIB) $(ALL_LDFLAGS) -ljansson -lcbor -lcrypto -o $@
$(call obj,tests/kms_enclave.c): ALL_CFLAGS += -I$(BUILD)/include
$(call obj,tests/kms_enclave.c): $(NSM_H)

.PHONY: demo-kms
demo-kms:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory all $(KMS_ENCLAVE)
	@BUILD=$(BUILD) sh tests/demo_kms.sh

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

# libFuzzer targets (fuzz/fuzz_*.c) built with clang, ASan and UBSan; each runs FUZZ_SECONDS
# from its seed corpus (fuzz/corpus/<target>/, new finds kept in $(BUILD)/fuzz/corpus/).
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := $(patsubst fuzz/%.c,$(BUILD)/fuzz/%,$(wildcard fuzz/fuzz_*.c))
FUZZ_LIB_SRC := $(COMMON_SRC) $(CA_SRC) $(SIM_SRC)
FUZZ_DEB_PACKAGES := clang libclang-rt-14-dev

$(BUILD)/fuzz/%: fuzz/%.c $(FUZZ_LIB_SRC)
	@mkdir -p $(@D)
	$(FUZZ_CC) -g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
	  -Icommon/include -Ica-tools/include -Insm-sim/include -Iverifier/include \
	  $< $(FUZZ_LIB_SRC) $(LIBS) -o $@

.PHONY: fuzz
fuzz:
	@$(MAKE) --no-print-directory deps DEB_PACKAGES="$(FUZZ_DEB_PACKAGES)"
	@$(MAKE) --no-print-directory $(FUZZ_TARGETS)
	@for t in $(FUZZ_TARGETS); do name=$$(basename $$t); \
	  mkdir -p $(BUILD)/fuzz/corpus/$$name; \
	  echo "== $$name for $(FUZZ_SECONDS) s"; \
	  $$t -max_total_time=$(FUZZ_SECONDS) -max_len=16384 -artifact_prefix=$(BUILD)/fuzz/ \
	    $(BUILD)/fuzz/corpus/$$name fuzz/corpus/$$name || exit 1; done

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
