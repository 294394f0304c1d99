# nsmkit - the one entry point.
#
#   make deps      install the Debian packages the build and tests need (only missing ones)
#   make all       build everything under build/
#   make test      deps + all + every test (unit and integration), then again under
#                  ASan/UBSan in $(BUILD)/sanitize
#   make demo      deps + all + the main job end to end on the embedded default setup
#   make bench     benchmarks, printed as ratios against OpenSSL's own speed
#   make vectors   regenerate the vectors/ corpus byte for byte from its committed test PKI
#   make install   PREFIX=/usr/local DESTDIR= (LIBDIR, INCLUDEDIR, MANDIR below PREFIX)
#   make clean
#
# SANITIZE=address,undefined builds (and tests) with sanitizers.

PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR ?= $(PREFIX)/share/man
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
# nettle's libhogweed (on GMP) signs and verifies P-384; OpenSSL does X.509 and the rest.
# (libhogweed brings libnettle itself; naming it too would make binaries linked without
# --as-needed, as under the sanitizers, need a library they never call.)
LIBS := -lcbor -lcrypto -lhogweed -lgmp -ljansson

ALL_CFLAGS = $(NSM_CFLAGS) $(CFLAGS)
ALL_LDFLAGS = $(NSM_LDFLAGS) $(LDFLAGS)

# Debian packages: what building and testing needs (groff-base: it_install.sh renders the
# man pages; binutils, for readelf and nm, comes with gcc).
DEB_PACKAGES := gcc make libc6-dev pkg-config openssl libssl-dev libcbor-dev libcmocka-dev \
                libfuse3-dev libjansson-dev xxd groff-base \
                nettle-dev libgmp-dev

# ---- components -------------------------------------------------------------------------

COMMON_SRC := common/reader.c common/cbor.c common/util.c common/json.c \
              common/p384.c common/p384_nettle.c common/p384_openssl.c
CA_SRC     := ca-tools/codes.c ca-tools/keys.c ca-tools/x509.c ca-tools/conf.c \
              ca-tools/store.c ca-tools/tiers.c ca-tools/pki.c ca-tools/rotate.c \
              ca-tools/leaf.c
SIM_SRC    := nsm-sim/messages.c nsm-sim/request.c nsm-sim/core.c nsm-sim/attest.c nsm-sim/options.c \
              nsm-sim/transport.c nsm-sim/server.c nsm-sim/device.c nsm-sim/nsmapi.c \
              nsm-sim/envopts.c nsm-sim/libnsm.c nsm-sim/serve.c nsm-sim/exec.c \
              nsm-sim/surgery.c nsm-sim/det_sign.c nsm-sim/fault.c nsm-sim/fault_pki.c \
              nsm-sim/fault_build.c nsm-sim/corpus.c
VERIFY_SRC := verifier/envelope.c verifier/payload.c verifier/cert.c verifier/chain.c \
              verifier/leaflink.c verifier/cose.c verifier/policy.c verifier/codes.c \
              verifier/failure.c verifier/verify.c verifier/report.c verifier/aws_root.c

COMMON_LIB := $(BUILD)/lib/libnsmkit-common.a
CA_LIB     := $(BUILD)/lib/libnsmca.a
SIM_LIB    := $(BUILD)/lib/libnsmsim.a
VERIFY_LIB := $(BUILD)/lib/libnsmverify.a
KMS_LIB    := $(BUILD)/lib/libnsmkms.a

# Programs. Adding one is two lines: its name in PROGRAMS, and PROG_<name> listing its
# sources, the libraries of ours it uses and the system libraries it uses (it links those
# and nothing else); its man page is man/<name>.1.
PROGRAMS := nsm-ca nsm-sim nsm-verify nsm-vectors nsm-kms
PROG_nsm-ca      := ca-tools/nsm-ca.c $(CA_LIB) $(COMMON_LIB) -lcrypto
PROG_nsm-sim     := nsm-sim/main.c $(SIM_LIB) $(VERIFY_LIB) $(CA_LIB) $(COMMON_LIB) -lcbor -lcrypto \
                    -lhogweed -lgmp -ljansson
PROG_nsm-verify  := verifier/nsm-verify.c $(VERIFY_LIB) $(COMMON_LIB) -lcbor -lcrypto \
                    -lhogweed -lgmp
PROG_nsm-vectors := harness/nsm-vectors.c $(SIM_LIB) $(VERIFY_LIB) $(CA_LIB) $(COMMON_LIB) \
                    -lcbor -lcrypto -lhogweed -lgmp
PROG_nsm-kms     := kms/main.c $(KMS_LIB) $(VERIFY_LIB) $(CA_LIB) $(COMMON_LIB) -lmicrohttpd \
                    -ljansson -lcbor -lcrypto -lhogweed -lgmp

BINS := $(addprefix $(BUILD)/bin/,$(PROGRAMS))

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
# (the libraries each thing links are part of it: a change of them relinks everything)
FLAGS_NOW = $(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) $(LIBS) \
            $(foreach p,$(PROGRAMS),$(filter -l%,$(PROG_$(p)))) \
            $(foreach n,$(SHARED_NAMES),$(SO_LINK_$(n)))
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
STATIC_LIBS := $(SIM_LIB) $(VERIFY_LIB) $(CA_LIB) $(COMMON_LIB)

define program_rule
$(BUILD)/bin/$(1): $(call obj,$(filter %.c,$(PROG_$(1)))) $(filter %.a,$(PROG_$(1)))
	@mkdir -p $$(@D)
	$$(CC) $$(ALL_CFLAGS) -pie $$(filter %.o,$$^) $(filter %.a,$(PROG_$(1))) $$(ALL_LDFLAGS) \
	    $(filter -l%,$(PROG_$(1))) -o $$@
endef
$(foreach p,$(PROGRAMS),$(eval $(call program_rule,$(p))))

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

$(call obj,nsm-sim/exec.c): ALL_CFLAGS += -DNSMKIT_LIBDIR='"$(LIBDIR)"'
# OpenSSL 3.0 signs with a chosen nonce only through deprecated EC_KEY calls (det_sign.c).
$(call obj,nsm-sim/det_sign.c): ALL_CFLAGS += -Wno-deprecated-declarations

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
              $(BUILD)/tests/nsm_conformance $(BUILD)/tests/weak_verifier
$(BUILD)/tests/devnsm_client $(BUILD)/tests/weak_verifier: $(BUILD)/tests/%: $(call obj,tests/%.c) $(STATIC_LIBS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(filter %.o,$^) $(STATIC_LIBS) $(ALL_LDFLAGS) $(LIBS) -o $@
$(BUILD)/tests/blog_client $(BUILD)/tests/nsm_conformance: $(BUILD)/tests/%: tests/%.c $(NSM_H) $(LIBNSM_SO)
	@mkdir -p $(@D)
	$(CC) -std=c11 $(WARNINGS) $(OPTIMISE) $(CFLAGS) -I$(BUILD)/include $< -L$(BUILD)/lib -lnsm \
	    -Wl,-rpath,'$$ORIGIN/../lib' $(ALL_LDFLAGS) -o $@

# ---- nsm-kms: a local KMS for secret injection (issue 13) ----------------------------------
# HTTP from libmicrohttpd, JSON from jansson (in LIBS: common/json.c uses it too); its tests
# drive it with Debian's AWS CLI and boto3.

DEB_PACKAGES += libmicrohttpd-dev awscli python3-boto3
KMS_SRC  := kms/errors.c kms/service.c kms/policy.c kms/sigv4.c kms/blob.c kms/base64.c \
            kms/recipient.c kms/store.c kms/http.c
KMS_LIBS := -lmicrohttpd
$(KMS_LIB): $(call obj,$(KMS_SRC))
# nsm-kms itself is in PROGRAMS (PROG_nsm-kms, man/nsm-kms.1); KMS_LIB sits with the others.
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
$(KMS_ENCLAVE): $(call obj,tests/kms_enclave.c kms/sigv4.c kms/base64.c kms/errors.c) \
                $(STATIC_LIBS) $(LIBNSM_SO)
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

# ---- the vectors corpus (issue 8) -----------------------------------------------------------

# Regenerates vectors/ byte for byte from the committed test PKI in vectors/pki.
.PHONY: vectors
vectors: $(BUILD)/bin/nsm-vectors
	$(BUILD)/bin/nsm-vectors gen vectors

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

# ---- install: what a C user links against -------------------------------------------------
# Versioned shared libraries (libNAME.so.MAJOR -> libNAME.so.VERSION, SONAME libNAME.so.MAJOR)
# exporting only their own prefix, static archives, the public headers, a pkg-config file per
# library, a man page per program, and the drop-in libnsm as before.
#
#   library    objects          prefix   public headers                      links
#   nsmkit     common/          nsmkit_  error bytes buf reader cbor_head    libcbor nettle
#                                        hex file json p384                  GMP libcrypto jansson
#   nsmca      ca-tools/        nsmca_   ca                                  nsmkit libcrypto
#   nsmverify  verifier/        nsmv_    verify                              nsmkit libcbor libcrypto
#   nsmsim     nsm-sim/         nsmsim_  sim nsm_abi                         nsmverify nsmca nsmkit
#                               nsmfault_ fault faults.def surgery det_sign  libcbor libcrypto
#
# nsmkit/cbor.h (libcbor's types) is not installed: no public API needs it.

SO_VERSION := 0.1.0
SO_MAJOR := 0

SHARED_NAMES := nsmkit nsmca nsmverify nsmsim
SO_SRC_nsmkit    := $(COMMON_SRC)
SO_SRC_nsmca     := $(CA_SRC)
SO_SRC_nsmverify := $(VERIFY_SRC)
SO_SRC_nsmsim    := $(SIM_SRC)
SO_LINK_nsmkit    := -lcbor -lhogweed -lgmp -lcrypto -ljansson
SO_LINK_nsmca     := -lnsmkit -lcrypto
SO_LINK_nsmverify := -lnsmkit -lcbor -lcrypto
SO_LINK_nsmsim    := -lnsmverify -lnsmca -lnsmkit -lcbor -lcrypto
SO_EXPORT_nsmkit    := nsmkit_
SO_EXPORT_nsmca     := nsmca_
SO_EXPORT_nsmverify := nsmv_
SO_EXPORT_nsmsim    := nsmsim_*; nsmfault_
# pkg-config: Requires for libraries whose types the public headers use, Requires.private
# for what only the library's own code calls.
PC_DESC_nsmkit    := nsmkit common helpers: errors, byte slices, buffers, bounded reader, hex, files, JSON, ECDSA P-384
PC_DESC_nsmca     := nsmkit fake Nitro PKI: a simulated root, AWS-shaped intermediates, enclave leaves
PC_DESC_nsmverify := nsmkit strict verifier of AWS Nitro attestation documents
PC_DESC_nsmsim    := nsmkit simulated Nitro Secure Module: the NSM core and the attestation builder
PC_REQ_nsmkit     :=
PC_REQ_nsmca      :=
PC_REQ_nsmverify  := nsmkit
PC_REQ_nsmsim     := nsmverify nsmca nsmkit
PC_PRIV_nsmkit    := libcbor hogweed nettle gmp libcrypto jansson
PC_PRIV_nsmca     := nsmkit libcrypto
PC_PRIV_nsmverify := libcbor libcrypto
PC_PRIV_nsmsim    := libcbor libcrypto
HEADERS_nsmkit    := $(addprefix common/include/nsmkit/,error.h bytes.h buf.h reader.h \
                       cbor_head.h hex.h file.h json.h p384.h)
HEADERS_nsmca     := ca-tools/include/nsmkit/ca.h
HEADERS_nsmverify := verifier/include/nsmkit/verify.h
HEADERS_nsmsim    := $(addprefix nsm-sim/include/nsmkit/,sim.h sim_codes.h nsm_abi.h fault.h \
                       faults.def surgery.h det_sign.h)

SHARED_LIBS := $(foreach n,$(SHARED_NAMES),$(BUILD)/lib/lib$(n).so.$(SO_VERSION))
PC_FILES := $(foreach n,$(SHARED_NAMES),$(BUILD)/pkgconfig/$(n).pc)
all: $(SHARED_LIBS) $(PC_FILES)

define shared_rule
$(BUILD)/lib/lib$(1).so.$(SO_VERSION): $(call obj,$(SO_SRC_$(1))) \
    $(foreach d,$(filter -lnsm%,$(SO_LINK_$(1))),$(BUILD)/lib/lib$(d:-l%=%).so.$(SO_VERSION))
	@mkdir -p $$(@D)
	printf '{ global: $(SO_EXPORT_$(1))*; local: *; };\n' > $$(@D)/lib$(1).map
	$$(CC) $$(ALL_CFLAGS) -shared -Wl,-soname,lib$(1).so.$(SO_MAJOR) \
	    -Wl,--version-script=$$(@D)/lib$(1).map -Wl,--no-undefined $$(filter %.o,$$^) -L$$(@D) \
	    $$(ALL_LDFLAGS) \
	    $(SO_LINK_$(1)) -o $$@
	ln -sf lib$(1).so.$(SO_VERSION) $$(@D)/lib$(1).so.$(SO_MAJOR)
	ln -sf lib$(1).so.$(SO_MAJOR) $$(@D)/lib$(1).so
$(BUILD)/pkgconfig/$(1).pc: Makefile
	@mkdir -p $$(@D)
	printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$(LIBDIR)' 'includedir=$(INCLUDEDIR)' '' \
	    'Name: $(1)' 'Description: $(PC_DESC_$(1))' 'Version: $(SO_VERSION)' \
	    'Requires: $(PC_REQ_$(1))' 'Requires.private: $(PC_PRIV_$(1))' \
	    'Libs: -L$$$${libdir} -l$(1)' 'Cflags: -I$$$${includedir}' > $$@
endef
$(foreach n,$(SHARED_NAMES),$(eval $(call shared_rule,$(n))))

# Static archives under their installed names (libnsmkit.a is libnsmkit-common.a).
STATIC_nsmkit := $(COMMON_LIB)
STATIC_nsmca := $(CA_LIB)
STATIC_nsmverify := $(VERIFY_LIB)
STATIC_nsmsim := $(SIM_LIB)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(LIBDIR)/pkgconfig \
	    $(DESTDIR)$(INCLUDEDIR)/nsmkit $(DESTDIR)$(MANDIR)/man1
	install -m 0755 $(BINS) $(DESTDIR)$(PREFIX)/bin/
	install -m 0755 $(PRELOAD_SO) $(LIBNSM_SO) $(DESTDIR)$(LIBDIR)/
	install -m 0644 $(LIBNSM_A) $(DESTDIR)$(LIBDIR)/
	install -m 0644 $(NSM_H) $(DESTDIR)$(INCLUDEDIR)/
	set -e; for n in $(SHARED_NAMES); do \
	  install -m 0755 $(BUILD)/lib/lib$$n.so.$(SO_VERSION) $(DESTDIR)$(LIBDIR)/; \
	  ln -sf lib$$n.so.$(SO_VERSION) $(DESTDIR)$(LIBDIR)/lib$$n.so.$(SO_MAJOR); \
	  ln -sf lib$$n.so.$(SO_MAJOR) $(DESTDIR)$(LIBDIR)/lib$$n.so; \
	  install -m 0644 $(BUILD)/pkgconfig/$$n.pc $(DESTDIR)$(LIBDIR)/pkgconfig/; \
	done
	$(foreach n,$(SHARED_NAMES),install -m 0644 $(STATIC_$(n)) $(DESTDIR)$(LIBDIR)/lib$(n).a;)
	install -m 0644 $(foreach n,$(SHARED_NAMES),$(HEADERS_$(n))) $(DESTDIR)$(INCLUDEDIR)/nsmkit/
	install -m 0644 $(addprefix man/,$(addsuffix .1,$(PROGRAMS))) $(DESTDIR)$(MANDIR)/man1/

uninstall:
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/bin/,$(PROGRAMS))
	rm -f $(addprefix $(DESTDIR)$(LIBDIR)/,$(notdir $(PRELOAD_SO) $(LIBNSM_SO) $(LIBNSM_A)))
	rm -f $(DESTDIR)$(INCLUDEDIR)/nsm.h
	for n in $(SHARED_NAMES); do \
	  rm -f $(DESTDIR)$(LIBDIR)/lib$$n.so $(DESTDIR)$(LIBDIR)/lib$$n.so.$(SO_MAJOR) \
	    $(DESTDIR)$(LIBDIR)/lib$$n.so.$(SO_VERSION) $(DESTDIR)$(LIBDIR)/lib$$n.a \
	    $(DESTDIR)$(LIBDIR)/pkgconfig/$$n.pc; done
	rm -f $(addprefix $(DESTDIR)$(INCLUDEDIR)/nsmkit/,$(notdir $(foreach n,$(SHARED_NAMES),$(HEADERS_$(n)))))
	-rmdir $(DESTDIR)$(INCLUDEDIR)/nsmkit 2>/dev/null
	rm -f $(addprefix $(DESTDIR)$(MANDIR)/man1/,$(addsuffix .1,$(PROGRAMS)))

clean:
	rm -rf $(BUILD)
