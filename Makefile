# SPDX-License-Identifier: Apache-2.0
# nsmkit - the one entry point.
#
#   make deps      install the Debian packages the build and tests need (only missing ones)
#   make all       build everything under build/
#   make test      deps + all + every test (unit and integration), then again under
#                  ASan/UBSan in $(BUILD)/sanitize
#   make demo      deps + all + the main job end to end on the embedded default setup
#   make bench     benchmarks, printed as ratios against OpenSSL's own speed
#   make vectors   regenerate the vectors/ corpus byte for byte from its committed test PKI
#   make fuzz      libFuzzer targets (clang); make fuzz-smoke runs each briefly (fuzz/README.md)
#   make install   PREFIX=/usr/local DESTDIR= (LIBDIR, INCLUDEDIR, MANDIR, DATADIR below PREFIX)
#   make clean
#
# SANITIZE=address,undefined builds (and tests) with sanitizers.

PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR ?= $(PREFIX)/share/man
DATADIR ?= $(PREFIX)/share/nsmkit
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
# Public headers (nsmkit/*.h) from each component's include/; internal headers across
# folders by their path from the top (e.g. "frontends/transports/device.h").
INCLUDES := -I. -Icommon/include -Ica-tools/include -Iverifier/include -Insm-core/include \
            -Ifaults/include -Ivsock/include
NSM_CFLAGS := -std=c11 -D_GNU_SOURCE -fPIC -pthread $(WARNINGS) $(OPTIMISE) \
              -fstack-protector-strong -MMD -MP \
              $(INCLUDES)
NSM_LDFLAGS := -pthread -Wl,-z,relro,-z,now -Wl,--as-needed $(if $(strip $(SANITIZE)),-fsanitize=$(SANITIZE))
# nettle's libhogweed (on GMP) signs and verifies P-384; OpenSSL does X.509 and the rest.
# (libhogweed brings libnettle itself; naming it too would make binaries linked without
# --as-needed, as under the sanitizers, need a library they never call.) libfuse3 serves
# the FUSE /dev/nsm (frontends/devices/fuse.c); --as-needed keeps it out of the shared objects that
# do not use it (the shim, libnsm.so). jansson parses JSON (nsmkit_json_walk, nsm-kms).
LIBS := -lcbor -lcrypto -lhogweed -lgmp -lfuse3 -ljansson

ALL_CFLAGS = $(NSM_CFLAGS) $(CFLAGS)
ALL_LDFLAGS = $(NSM_LDFLAGS) $(LDFLAGS)

# Debian packages: what building and testing needs (groff-base: it_install.sh renders the
# man pages; binutils, for readelf and nm, comes with gcc; fuse3: fusermount3 for
# `nsm-sim fuse --mount`; golang-go: the FUSE device's test of a static Go program using the
# raw ioctl system call).
DEB_PACKAGES := gcc make libc6-dev pkg-config openssl libssl-dev libcbor-dev libcmocka-dev \
                libfuse3-dev fuse3 libjansson-dev xxd groff-base golang-go valgrind \
                nettle-dev libgmp-dev

# ---- components -------------------------------------------------------------------------

COMMON_SRC := common/codes.c common/opts.c common/reader.c common/cbor.c common/util.c common/json.c common/det_sign.c \
              common/p384.c common/p384_scalar.c common/p384_nettle.c common/p384_openssl.c
CA_SRC     := ca-tools/codes.c ca-tools/keys.c ca-tools/x509.c ca-tools/conf.c \
              ca-tools/store.c ca-tools/tiers.c ca-tools/pki.c ca-tools/rotate.c \
              ca-tools/leaf.c
# The house, floor by floor (docs/architecture.md): common/ (0); ca-tools/, verifier/ (1);
# the NSM device model nsm-core/ (2); the fault machinery faults/ (3), which plugs into the
# core's document hook; the front-ends frontends/ (4): transports, the shim and drop-in
# libnsm (devnsm), the FUSE and CUSE devices; the nsm-sim command nsm-sim/ (5). kms/, and
# the coming eif/ and vsock/, sit beside them as components of their own.
CORE_SRC   := nsm-core/messages.c nsm-core/request.c nsm-core/core.c nsm-core/attest.c \
              nsm-core/options.c
FAULT_SRC  := faults/surgery.c faults/fault.c faults/fault_pki.c \
              faults/fault_build.c faults/device_mode.c faults/sim_args.c faults/corpus.c
TRANSPORT_SRC := frontends/transports/frame.c frontends/transports/client.c \
                 frontends/transports/log.c frontends/transports/device.c \
                 frontends/transports/core_handler.c frontends/transports/server.c \
                 frontends/transports/envopts.c
DEVNSM_SRC := frontends/devnsm/nsmapi.c frontends/devnsm/libnsm.c
# The FUSE /dev/nsm (libfuse3), used by `nsm-sim exec --device fuse` and `nsm-sim fuse`;
# the CUSE /dev/nsm (`nsm-sim cuse`; its static guest build is in the QEMU section).
FUSE_SRC   := frontends/devices/fuse.c frontends/devices/mountns.c
DEVICE_SRC := $(FUSE_SRC) frontends/devices/cuse.c frontends/devices/cuse_cmd.c
FRONT_SRC  := $(TRANSPORT_SRC) $(DEVNSM_SRC) $(DEVICE_SRC)
CMD_SRC    := nsm-sim/serve.c nsm-sim/exec.c nsm-sim/binkind.c
VERIFY_SRC := verifier/envelope.c verifier/payload.c verifier/cert.c verifier/chain.c \
              verifier/leaflink.c verifier/cose.c verifier/policy.c verifier/codes.c \
              verifier/failure.c verifier/verify.c verifier/report.c verifier/aws_root.c \
              verifier/claims.c

COMMON_LIB := $(BUILD)/lib/libnsmkit-common.a
CA_LIB     := $(BUILD)/lib/libnsmca.a
SIM_LIB    := $(BUILD)/lib/libnsmsim.a
FAULT_LIB  := $(BUILD)/lib/libnsmfault.a
EIF_LIB    := $(BUILD)/lib/libnsmeif.a
FRONT_LIB  := $(BUILD)/lib/libnsmfront.a
CMD_LIB    := $(BUILD)/lib/libnsmsim-cmd.a
VERIFY_LIB := $(BUILD)/lib/libnsmverify.a
KMS_LIB    := $(BUILD)/lib/libnsmkms.a

# Programs. Adding one is two lines: its name in PROGRAMS, and PROG_<name> listing its
# sources, the libraries of ours it uses and the system libraries it uses (it links those
# and nothing else); its man page is man/<name>.1.
PROGRAMS := nsm-ca nsm-sim nsm-verify nsm-vectors nsm-kms nsm-vsock
PROG_nsm-ca      := ca-tools/nsm-ca.c $(CA_LIB) $(COMMON_LIB) -lcrypto
PROG_nsm-sim     := nsm-sim/main.c $(CMD_LIB) $(FRONT_LIB) $(FAULT_LIB) $(EIF_LIB) $(SIM_LIB) $(VERIFY_LIB) $(CA_LIB) $(COMMON_LIB) -lcbor -lcrypto \
                    -lhogweed -lgmp -lfuse3 -ljansson
PROG_nsm-verify  := verifier/nsm-verify.c $(VERIFY_LIB) $(COMMON_LIB) -lcbor -lcrypto \
                    -lhogweed -lgmp
PROG_nsm-vectors := harness/nsm-vectors.c harness/grade.c harness/reap.c harness/report.c \
                    harness/html.c harness/report_cmd.c $(FAULT_LIB) $(EIF_LIB) $(SIM_LIB) \
                    $(VERIFY_LIB) $(CA_LIB) $(COMMON_LIB) -lcbor -lcrypto -lhogweed -lgmp -ljansson
PROG_nsm-kms     := kms/main.c $(KMS_LIB) $(VERIFY_LIB) $(CA_LIB) $(COMMON_LIB) -lmicrohttpd \
                    -ljansson -lcbor -lcrypto -lhogweed -lgmp
VSOCK_LIB := $(BUILD)/lib/libnsmvsock.a
VHOST_LIB := $(BUILD)/lib/libnsmvhost.a
PROG_nsm-vsock   := vsock/nsm-vsock.c vsock/vhost_cmd.c $(VHOST_LIB) $(VSOCK_LIB) $(COMMON_LIB) -lyaml

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
$(SIM_LIB): $(call obj,$(CORE_SRC))
$(FAULT_LIB): $(call obj,$(FAULT_SRC))
$(FRONT_LIB): $(call obj,$(FRONT_SRC))
$(CMD_LIB): $(call obj,$(CMD_SRC))
$(VERIFY_LIB): $(call obj,$(VERIFY_SRC))
$(BUILD)/lib/%.a:
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

# Libraries in link order: users first.
STATIC_LIBS := $(CMD_LIB) $(FRONT_LIB) $(FAULT_LIB) $(EIF_LIB) $(SIM_LIB) $(VERIFY_LIB) $(CA_LIB) $(COMMON_LIB)

# ---- eif: libnsmeif and nsm-eif (issue 20; eif/README.md) ---------------------------------
# Enclave images: a strict streaming reader, describe-eif's JSON, eif_build's builder, the
# application ramdisk, the EIF fault table. zlib computes the image's CRC-32 (as AWS's and
# QEMU's readers do). libnsmeif needs only common/; the state options' --eif (faults/sim_args.c)
# reads images through it, so it sits below the fault library.
DEB_PACKAGES += zlib1g-dev python3-cryptography
NSM_CFLAGS += -Ieif/include
LIBS += -lz
EIF_SRC := eif/codes.c eif/reader.c eif/certinfo.c eif/signature.c eif/metadata.c eif/describe.c \
           eif/build.c eif/sign.c eif/cpio.c eif/faults.c
$(EIF_LIB): $(call obj,$(EIF_SRC))
PROG_nsm-sim += -lz
PROG_nsm-vectors += -ljansson -lz
PROGRAMS += nsm-eif
BINS += $(BUILD)/bin/nsm-eif
all: $(BUILD)/bin/nsm-eif
# `make vectors` regenerates the EIF fault corpus too (vectors/eif/README.md).
.PHONY: eif-vectors
vectors: eif-vectors
eif-vectors: $(BUILD)/bin/nsm-eif
	$(BUILD)/bin/nsm-eif corpus vectors/eif
# (RFC 6979 nonces from common/det_sign.c: nsm-eif build signs reproducibly)
PROG_nsm-eif := eif/nsm-eif.c eif/nsm-eif-corpus.c $(EIF_LIB) $(COMMON_LIB) -lcbor \
                -lcrypto -lhogweed -lgmp -ljansson -lz

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
$(call obj,common/det_sign.c): ALL_CFLAGS += -Wno-deprecated-declarations

$(PRELOAD_SO): $(call obj,frontends/devnsm/preload.c) $(STATIC_LIBS) frontends/devnsm/preload.map
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -shared -Wl,--version-script=frontends/devnsm/preload.map $(filter %.o,$^) \
	    $(STATIC_LIBS) $(ALL_LDFLAGS) $(LIBS) -o $@
$(LIBNSM_SO): $(call obj,frontends/devnsm/libnsm.c) $(STATIC_LIBS) frontends/devnsm/libnsm.map
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -shared -Wl,-soname,libnsm.so -Wl,--version-script=frontends/devnsm/libnsm.map \
	    $(filter %.o,$^) $(STATIC_LIBS) $(ALL_LDFLAGS) $(LIBS) -o $@
$(LIBNSM_A): $(STATIC_LIBS) frontends/devnsm/libnsm.map
	@mkdir -p $(@D) $(BUILD)/obj/libnsm
	sed -n 's/^ *\(nsm_[a-z_]*\);.*/\1/p' frontends/devnsm/libnsm.map > $(BUILD)/obj/libnsm/exports
	$(CC) -r -nostdlib $$(sed 's/^/-Wl,-u,/' $(BUILD)/obj/libnsm/exports) $(STATIC_LIBS) \
	    -o $(BUILD)/obj/libnsm/libnsm.o
	objcopy --keep-global-symbols=$(BUILD)/obj/libnsm/exports $(BUILD)/obj/libnsm/libnsm.o
	rm -f $@ && ar rcs $@ $(BUILD)/obj/libnsm/libnsm.o
$(NSM_H): frontends/devnsm/nsm.h
	@mkdir -p $(@D)
	cp $< $@

# Programs the integration tests drive. The nsm.h clients build the way a user builds
# against the drop-in library (only build/include and build/lib), plus our warnings.
TEST_PROGS := $(BUILD)/tests/devnsm_client $(BUILD)/tests/blog_client \
              $(BUILD)/tests/nsm_conformance $(BUILD)/tests/weak_verifier \
              $(BUILD)/tests/devnsm_client_static
$(BUILD)/tests/devnsm_client $(BUILD)/tests/weak_verifier: $(BUILD)/tests/%: $(call obj,tests/%.c) $(STATIC_LIBS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(filter %.o,$^) $(STATIC_LIBS) $(ALL_LDFLAGS) $(LIBS) -o $@
# The same raw-ioctl client linked -static: the FUSE device's stand-in for static enclave
# programs, which the LD_PRELOAD shim cannot reach. Debian ships no libcbor.a, so its
# sources are compiled here with one section per function and the unused ones (the libcbor
# users among them) dropped by the linker. Never sanitized: the sanitizers have no static
# runtime. The linker's notes on getaddrinfo/dlopen in static programs are libcrypto's
# (unused here); they are not silenced, since ld's --no-warnings hides errors too.
STATIC_CLIENT_SRC := tests/devnsm_client.c common/codes.c nsm-core/messages.c nsm-core/request.c \
                     frontends/devnsm/nsmapi.c common/cbor.c common/util.c common/reader.c
$(BUILD)/tests/devnsm_client_static: $(STATIC_CLIENT_SRC) nsm-core/messages.def
	@mkdir -p $(@D)
	$(CC) -std=c11 -D_GNU_SOURCE $(WARNINGS) -O2 $(CFLAGS) $(INCLUDES) -ffunction-sections -fdata-sections -static $(STATIC_CLIENT_SRC) \
	    -Wl,--gc-sections -lcrypto -pthread -o $@
$(BUILD)/tests/blog_client $(BUILD)/tests/nsm_conformance: $(BUILD)/tests/%: tests/%.c $(NSM_H) $(LIBNSM_SO)
	@mkdir -p $(@D)
	$(CC) -std=c11 $(WARNINGS) $(OPTIMISE) $(CFLAGS) -I$(BUILD)/include $< -L$(BUILD)/lib -lnsm \
	    -Wl,-rpath,'$$ORIGIN/../lib' $(ALL_LDFLAGS) -o $@

# ---- nsm-kms: a local KMS for secret injection (issue 13) ----------------------------------
# HTTP from libmicrohttpd, JSON from jansson (in LIBS: common/json.c uses it too); its tests
# drive it with Debian's AWS CLI and boto3.

DEB_PACKAGES += libmicrohttpd-dev awscli python3-boto3 python3-asn1crypto python3-cryptography
KMS_SRC  := kms/errors.c kms/service.c kms/policy.c kms/sigv4.c kms/blob.c kms/base64.c \
            kms/recipient.c kms/cms.c kms/asym.c kms/store.c kms/http.c
KMS_LIBS := -lmicrohttpd
$(KMS_LIB): $(call obj,$(KMS_SRC))
# nsm-kms itself is in PROGRAMS (PROG_nsm-kms, man/nsm-kms.1); KMS_LIB sits with the others.
$(BUILD)/tests/test_kms_%: $(call obj,tests/test_kms_%.c) $(call obj,tests/testutil.c) \
                           $(call obj,tests/verify_fixture.c) $(KMS_LIB) $(STATIC_LIBS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(filter %.o,$^) $(KMS_LIB) $(STATIC_LIBS) $(ALL_LDFLAGS) $(KMS_LIBS) \
	    $(LIBS) -lcmocka -o $@
# test_kms_cms reads the blobs with the example's strict reader (what an enclave app copies).
$(BUILD)/tests/test_kms_cms: $(call obj,examples/kms-recipient/cms_open.c)
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

# examples/kms-recipient: the Recipient client an enclave application copies, built the way
# its README says (nsm.h, libnsm, jansson, libcrypto; nothing of nsmkit's own) and run by
# tests/it_kms_examples.sh under nsm-sim exec.
KMS_EXAMPLE := $(BUILD)/tests/enclave_decrypt
KMS_EXAMPLE_SRC := examples/kms-recipient/enclave_decrypt.c examples/kms-recipient/cms_open.c
TEST_PROGS += $(KMS_EXAMPLE)
$(KMS_EXAMPLE): $(KMS_EXAMPLE_SRC) examples/kms-recipient/cms_open.h $(NSM_H) $(LIBNSM_SO)
	@mkdir -p $(@D)
	$(CC) -std=c11 -D_GNU_SOURCE $(WARNINGS) $(OPTIMISE) $(CFLAGS) -I$(BUILD)/include \
	    $(KMS_EXAMPLE_SRC) -L$(BUILD)/lib -lnsm -Wl,-rpath,'$$ORIGIN/../lib' $(ALL_LDFLAGS) \
	    -ljansson -lcrypto -o $@

.PHONY: demo-kms
demo-kms:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory all $(KMS_ENCLAVE)
	@BUILD=$(BUILD) sh tests/demo_kms.sh

# ---- nsm-vsock: AF_VSOCK in user space, host side (issue 19) --------------------------------
# The DIR network (vsock/net.c, vsock_net.h), the interposer (an LD_PRELOAD shim, and a
# seccomp supervisor for static and Go programs), vsock-proxy (libyaml reads its allowlist)
# and the heartbeat. socat: the tests' program nobody here wrote.

DEB_PACKAGES += libyaml-dev socat
VSOCK_SRC := vsock/net.c vsock/emu.c vsock/filter.c vsock/supervise.c vsock/exec.c \
             vsock/allowlist.c vsock/proxy.c vsock/heartbeat.c
$(VSOCK_LIB): $(call obj,$(VSOCK_SRC))
$(call obj,vsock/exec.c): ALL_CFLAGS += -DNSMKIT_LIBDIR='"$(LIBDIR)"'
# The shim: the emulation and the network only, exporting only what it interposes.
VSOCK_PRELOAD_SO := $(BUILD)/lib/libnsm-vsock-preload.so
all: $(VSOCK_PRELOAD_SO)
# The shim's copies of emu.c and net.c call libc directly, not its own interposers.
VSOCK_SHIM_OBJ := $(BUILD)/obj/vsock/shim/emu.o $(BUILD)/obj/vsock/shim/net.o
$(BUILD)/obj/vsock/shim/%.o: vsock/%.c vsock/libc_direct.h $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -include vsock/libc_direct.h -c $< -o $@
$(VSOCK_PRELOAD_SO): $(call obj,vsock/preload.c) $(VSOCK_SHIM_OBJ) $(COMMON_LIB) vsock/preload.map
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -shared -Wl,--version-script=vsock/preload.map $(filter %.o,$^) \
	    $(COMMON_LIB) $(ALL_LDFLAGS) -ldl -o $@
$(BUILD)/tests/test_vsock_%: $(call obj,tests/test_vsock_%.c) $(call obj,tests/testutil.c) \
                             $(VSOCK_LIB) $(STATIC_LIBS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(filter %.o,$^) $(VSOCK_LIB) $(STATIC_LIBS) $(ALL_LDFLAGS) \
	    $(LIBS) -lyaml -lcmocka -o $@
$(BUILD)/fuzz/bin/fuzz_vsock_net $(BUILD)/fuzz/replay/fuzz_vsock_net: $(call obj,vsock/net.c)
# `make install` also installs the shim beside libnsm-sim-preload.so (exec looks there).
install: install-vsock
.PHONY: install-vsock
install-vsock: $(VSOCK_PRELOAD_SO)
	install -d $(DESTDIR)$(LIBDIR)
	install -m 0755 $(VSOCK_PRELOAD_SO) $(DESTDIR)$(LIBDIR)/
uninstall: uninstall-vsock
.PHONY: uninstall-vsock
uninstall-vsock:
	rm -f $(DESTDIR)$(LIBDIR)/$(notdir $(VSOCK_PRELOAD_SO))
# The benchmark runs itself under nsm-vsock exec.
$(BUILD)/bench/vsock_bench: $(BUILD)/bin/nsm-vsock $(VSOCK_PRELOAD_SO)
# tests/it_vsock.sh's own AF_VSOCK program: dynamic (the shim) and -static (the supervisor).
TEST_PROGS += $(BUILD)/tests/vsock_tool $(BUILD)/tests/vsock_tool_static
$(BUILD)/tests/vsock_tool: tests/vsock_tool.c
	@mkdir -p $(@D)
	$(CC) -std=c11 -D_GNU_SOURCE $(WARNINGS) $(OPTIMISE) $(CFLAGS) $< $(ALL_LDFLAGS) -o $@
$(BUILD)/tests/vsock_tool_static: tests/vsock_tool.c
	@mkdir -p $(@D)
	$(CC) -std=c11 -D_GNU_SOURCE $(WARNINGS) -O2 $(CFLAGS) -static $< -o $@
all: $(VSOCK_LIB)

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
# What ClusterFuzzLite's / OSS-Fuzz's builder image (Ubuntu 24.04) lacks to build the targets:
# the development package of every library in LIBS. The Dockerfile installs exactly these
# (`make fuzz-builder-deps`); `make cflite-check` fails when LIBS outgrows the list.
FUZZ_BUILDER_DEB_PACKAGES := make pkg-config zip libssl-dev libcbor-dev nettle-dev libgmp-dev \
                             libjansson-dev libfuse3-dev zlib1g-dev

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
# The grade reader of `nsm-vectors report` and the reports it writes (harness/).
$(BUILD)/fuzz/bin/fuzz_grade_json $(BUILD)/fuzz/replay/fuzz_grade_json: \
    $(call obj,harness/report_cmd.c harness/report.c harness/html.c)
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

.PHONY: fuzz fuzz-targets fuzz-smoke fuzz-builder-deps cflite-check
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
# and the seeds without clang): ten targets for a minute each is CI's job.
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

fuzz-builder-deps:
	@$(MAKE) --no-print-directory deps DEB_PACKAGES="$(FUZZ_BUILDER_DEB_PACKAGES)"

# .clusterfuzzlite/build.sh run here as the builder runs it (fuzz/cflite-check.sh): the
# builder's variables for each sanitizer, a copy of the tree at $$SRC/nsmkit, then every
# target in $$OUT over its seed corpus.
cflite-check:
	@$(MAKE) --no-print-directory deps DEB_PACKAGES="$(FUZZ_DEB_PACKAGES) $(FUZZ_BUILDER_DEB_PACKAGES) unzip"
	@LIBS="$(LIBS)" FUZZ_BUILDER_DEB_PACKAGES="$(FUZZ_BUILDER_DEB_PACKAGES)" \
	    FUZZ_NAMES="$(FUZZ_NAMES)" bash fuzz/cflite-check.sh $(CFLITE_SANITIZERS)
CFLITE_SANITIZERS ?= address undefined

# ---- nsm-vsock's fuzz targets that need libyaml (the allowlist) -------------------------------
FUZZ_BUILDER_DEB_PACKAGES += libyaml-dev
FUZZ_VSOCK_ALLOW_OBJ := $(call obj,fuzz/fuzz_vsock_allowlist.c vsock/allowlist.c)
$(BUILD)/fuzz/bin/fuzz_vsock_allowlist: $(FUZZ_VSOCK_ALLOW_OBJ) $(FUZZ_SUPPORT_OBJ) $(STATIC_LIBS)
	@mkdir -p $(@D)
	$(FUZZ_LINK) $(ALL_CFLAGS) $(filter %.o,$^) $(STATIC_LIBS) $(LIB_FUZZING_ENGINE) \
	    $(ALL_LDFLAGS) $(LIBS) -lyaml -o $@
$(BUILD)/fuzz/replay/fuzz_vsock_allowlist: $(FUZZ_VSOCK_ALLOW_OBJ) $(call obj,fuzz/replay.c) \
    $(FUZZ_SUPPORT_OBJ) $(STATIC_LIBS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(filter %.o,$^) $(STATIC_LIBS) $(ALL_LDFLAGS) $(LIBS) -lyaml -o $@

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
#                                        hex file json p384 det_sign         GMP libcrypto jansson
#   nsmca      ca-tools/        nsmca_   ca                                  nsmkit libcrypto
#   nsmverify  verifier/        nsmv_    verify                              nsmkit libcbor libcrypto
#   nsmsim     nsm-core/        nsmsim_  sim sim_codes nsm_abi               nsmca nsmkit
#                                                                            libcbor libcrypto
#   nsmeif     eif/             nsmeif_  eif eif_faults eif_faults.def      nsmkit libcbor
#                                                                            libcrypto jansson zlib
#   nsmfault   faults/          nsmfault_ fault faults.def surgery           nsmeif nsmsim
#                                                                            nsmverify nsmca nsmkit
#
# nsmkit/cbor.h (libcbor's types) is not installed: no public API needs it.

# (from nsmkit/version.h, which every --version prints)
SO_VERSION := $(shell sed -n 's/^\#define NSMKIT_VERSION "\(.*\)"/\1/p' common/include/nsmkit/version.h)
SO_MAJOR := 0

SHARED_NAMES := nsmkit nsmca nsmverify nsmsim nsmeif nsmfault
SO_SRC_nsmkit    := $(COMMON_SRC)
SO_SRC_nsmca     := $(CA_SRC)
SO_SRC_nsmverify := $(VERIFY_SRC)
# The front-ends and the command stay out of the shared libraries: nothing public calls
# them. The NSM core needs neither the fault library nor the verifier.
SO_SRC_nsmsim    := $(CORE_SRC)
SO_SRC_nsmfault  := $(FAULT_SRC)
SO_SRC_nsmeif    := $(EIF_SRC)
SO_LINK_nsmkit    := -lcbor -lhogweed -lgmp -lcrypto -ljansson
SO_LINK_nsmca     := -lnsmkit -lcrypto
SO_LINK_nsmverify := -lnsmkit -lcbor -lcrypto
SO_LINK_nsmsim    := -lnsmca -lnsmkit -lcbor -lcrypto
SO_LINK_nsmfault  := -lnsmeif -lnsmsim -lnsmverify -lnsmca -lnsmkit -lcbor -lcrypto
SO_LINK_nsmeif    := -lnsmkit -lcbor -lcrypto -ljansson -lz
SO_EXPORT_nsmkit    := nsmkit_
SO_EXPORT_nsmca     := nsmca_
SO_EXPORT_nsmverify := nsmv_
SO_EXPORT_nsmsim    := nsmsim_
SO_EXPORT_nsmeif    := nsmeif_
# (and the parser of the device's state options, which knows the fault classes)
SO_EXPORT_nsmfault  := nsmfault_*; nsmsim_options_parse_arg
# pkg-config: Requires for libraries whose types the public headers use, Requires.private
# for what only the library's own code calls.
PC_DESC_nsmkit    := nsmkit common helpers: errors, byte slices, buffers, bounded reader, hex, files, JSON, ECDSA P-384
PC_DESC_nsmca     := nsmkit fake Nitro PKI: a simulated root, AWS-shaped intermediates, enclave leaves
PC_DESC_nsmverify := nsmkit strict verifier of AWS Nitro attestation documents
PC_DESC_nsmsim    := nsmkit simulated Nitro Secure Module: the NSM core and the attestation builder
PC_DESC_nsmeif    := nsmkit enclave images: a strict EIF reader, its measurements (PCR0/1/2/8), builder and fault table
PC_DESC_nsmfault  := nsmkit fault machinery: malformed attestation documents by class, the corpus, the device fault mode
PC_REQ_nsmkit     :=
PC_REQ_nsmca      :=
PC_REQ_nsmverify  := nsmkit
PC_REQ_nsmsim     := nsmca nsmkit
PC_REQ_nsmfault   := nsmsim nsmverify nsmca nsmkit
PC_REQ_nsmeif     := nsmkit
PC_PRIV_nsmkit    := libcbor hogweed nettle gmp libcrypto jansson
PC_PRIV_nsmca     := nsmkit libcrypto
PC_PRIV_nsmverify := libcbor libcrypto
PC_PRIV_nsmsim    := libcbor libcrypto
PC_PRIV_nsmfault  := nsmeif libcbor libcrypto
PC_PRIV_nsmeif    := libcbor libcrypto jansson zlib
HEADERS_nsmkit    := $(addprefix common/include/nsmkit/,error.h bytes.h buf.h reader.h \
                       cbor_head.h hex.h file.h json.h p384.h codes.h \
                       opts.h version.h det_sign.h)
HEADERS_nsmca     := ca-tools/include/nsmkit/ca.h
HEADERS_nsmverify := verifier/include/nsmkit/verify.h
HEADERS_nsmsim    := $(addprefix nsm-core/include/nsmkit/,sim.h sim_codes.h nsm_abi.h)
HEADERS_nsmeif    := $(addprefix eif/include/nsmkit/,eif.h eif_faults.h eif_faults.def)
HEADERS_nsmfault  := $(addprefix faults/include/nsmkit/,fault.h faults.def surgery.h)

# The installation paths are baked into the .pc files and into nsm-sim's exec.c: a stamp that
# changes only when they change rebuilds exactly those, so `make install PREFIX=/opt/x` after
# an install to /usr/local writes files that point at /opt/x (issue 23).
PATHS_STAMP := $(BUILD)/.paths
PATHS_NOW = prefix=$(PREFIX) libdir=$(LIBDIR) includedir=$(INCLUDEDIR) datadir=$(DATADIR)
$(PATHS_STAMP): FORCE
	@mkdir -p $(@D)
	@echo '$(PATHS_NOW)' | cmp -s - $@ || echo '$(PATHS_NOW)' > $@
$(call obj,nsm-sim/exec.c vsock/exec.c): $(PATHS_STAMP)
# The licence (LICENSE), also in each .pc file: pkgconf reads License:, older ones ignore it.
LICENSE := Apache-2.0

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
$(BUILD)/pkgconfig/$(1).pc: Makefile $(PATHS_STAMP)
	@mkdir -p $$(@D)
	printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$(LIBDIR)' 'includedir=$(INCLUDEDIR)' '' \
	    'Name: $(1)' 'Description: $(PC_DESC_$(1))' 'Version: $(SO_VERSION)' \
	    'License: $(LICENSE)' \
	    'Requires: $(PC_REQ_$(1))' 'Requires.private: $(PC_PRIV_$(1))' \
	    'Libs: -L$$$${libdir} -l$(1)' 'Cflags: -I$$$${includedir}' > $$@
endef
$(foreach n,$(SHARED_NAMES),$(eval $(call shared_rule,$(n))))

# Static archives under their installed names (libnsmkit.a is libnsmkit-common.a).
STATIC_nsmkit := $(COMMON_LIB)
STATIC_nsmca := $(CA_LIB)
STATIC_nsmverify := $(VERIFY_LIB)
STATIC_nsmsim := $(SIM_LIB)
STATIC_nsmfault := $(FAULT_LIB)
STATIC_nsmeif := $(EIF_LIB)
VECTOR_DOCS := $(wildcard vectors/docs/*.cose)

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
	@# the corpus nsm-vectors grades with by default outside a checkout, and the licence
	install -d $(DESTDIR)$(DATADIR)/vectors/docs
	install -m 0644 vectors/manifest.tsv vectors/root.pem vectors/README.md $(DESTDIR)$(DATADIR)/vectors/
	install -m 0644 $(VECTOR_DOCS) $(DESTDIR)$(DATADIR)/vectors/docs/
	install -m 0644 LICENSE $(DESTDIR)$(DATADIR)/

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
	rm -rf $(DESTDIR)$(DATADIR)/vectors
	rm -f $(DESTDIR)$(DATADIR)/LICENSE
	-rmdir $(DESTDIR)$(DATADIR) 2>/dev/null

clean:
	rm -rf $(BUILD)

# ---- QEMU guests: a CUSE /dev/nsm served by the host over virtio-serial ---------------------
# `make qemu-image` builds the guest image (qemu/build-image.sh: Debian's cloud kernel and
# busybox-static, fetched with apt-get download into $(BUILD)/qemu/debs, never installed);
# `make qemu-test` runs the guest suite (tests/it_qemu.sh), which `make check` runs too.
# The guest's CUSE daemon and nsm-probe are static and carry neither libcbor nor OpenSSL:
# --gc-sections drops what they do not use.

QEMU_DEB_PACKAGES := qemu-system-x86 cpio
DEB_PACKAGES += $(QEMU_DEB_PACKAGES)
QEMU_GUEST := $(BUILD)/qemu/guest
QEMU_IMAGE := $(BUILD)/qemu/image
GUEST_CFLAGS := -std=c11 -D_GNU_SOURCE $(WARNINGS) -O2 -fstack-protector-strong \
                -ffunction-sections -fdata-sections $(INCLUDES) $(CFLAGS) -g0 -ffile-prefix-map=$(CURDIR)=.
GUEST_LDFLAGS := -static -pthread -Wl,--gc-sections $(LDFLAGS)
GUEST_CUSE_SRC := frontends/devices/cuse_main.c frontends/devices/cuse.c \
                  frontends/devices/cuse_cmd.c frontends/transports/frame.c \
                  frontends/transports/client.c frontends/transports/log.c \
                  frontends/transports/device.c common/util.c common/opts.c
GUEST_PROGS := $(QEMU_GUEST)/nsm-sim $(QEMU_GUEST)/nsm-probe $(QEMU_GUEST)/devnsm_client \
               $(QEMU_GUEST)/blog_client

$(QEMU_GUEST)/nsm-sim: $(GUEST_CUSE_SRC) $(wildcard frontends/*/*.h)
	@mkdir -p $(@D)
	$(CC) $(GUEST_CFLAGS) $(GUEST_CUSE_SRC) $(GUEST_LDFLAGS) -o $@
$(QEMU_GUEST)/nsm-probe: qemu/nsm-probe.c nsm-core/include/nsmkit/nsm_abi.h
	@mkdir -p $(@D)
	$(CC) $(GUEST_CFLAGS) $< $(GUEST_LDFLAGS) -o $@
# libcbor has no static library in Debian: these two run dynamically linked in the guest,
# with the shared libraries they need copied into the image.
$(QEMU_GUEST)/devnsm_client $(QEMU_GUEST)/blog_client: $(QEMU_GUEST)/%: $(BUILD)/tests/%
	@mkdir -p $(@D)
	cp $< $@

.PHONY: qemu-image qemu-test qemu-deps
qemu-deps:
	@$(MAKE) --no-print-directory deps DEB_PACKAGES="$(QEMU_DEB_PACKAGES)"
$(QEMU_IMAGE)/initramfs.cpio: $(GUEST_PROGS) $(LIBNSM_SO) qemu/build-image.sh qemu/init qemu/eif-init \
                              qemu/guest-tests.sh
	@if [ -n "$(strip $(SANITIZE))" ]; then \
	  echo "qemu-image: build it without SANITIZE (static guest programs cannot carry ASan)"; exit 1; fi
	sh qemu/build-image.sh --build $(BUILD) --out $(QEMU_IMAGE)
$(BUILD)/bin/nsm-qemu: qemu/nsm-qemu.sh common/include/nsmkit/version.h
	@mkdir -p $(@D)
	sed 's/@NSMKIT_VERSION@/$(SO_VERSION)/' $< > $@.tmp && chmod 0755 $@.tmp && mv $@.tmp $@
all: $(BUILD)/bin/nsm-qemu
qemu-image: $(QEMU_IMAGE)/initramfs.cpio $(BUILD)/bin/nsm-qemu
qemu-test: all qemu-image $(TEST_PROGS)
	@BUILD=$(BUILD) SANITIZE='$(SANITIZE)' sh tests/run.sh tests/it_qemu.sh
ifeq ($(strip $(SANITIZE)),)
check: qemu-image
endif

# ---- nsm-nitro-cli: nitro-cli's commands on QEMU guests (issue 21; docs/nitro-cli.md) ------
# build-enclave without Docker (a root filesystem or a docker-save/OCI tarball, read with
# libarchive), describe-eif, pcr, and run-enclave/describe-enclaves/console/terminate-enclave
# over `nsm-qemu run-eif`. `make install` also puts a `nitro-cli` symlink in
# $(NITRO_CLI_BINDIR), a directory of its own that users prepend to PATH on purpose, so it
# never shadows a real nitro-cli by accident.
DEB_PACKAGES += libarchive-dev
NITRO_CLI_SRC := nitro-cli/main.c nitro-cli/codes.c nitro-cli/build.c nitro-cli/layer.c nitro-cli/image.c \
                 nitro-cli/state.c nitro-cli/run.c nitro-cli/manage.c
NITRO_CLI_BINDIR ?= $(PREFIX)/libexec/nsmkit/bin
PROGRAMS += nsm-nitro-cli
BINS += $(BUILD)/bin/nsm-nitro-cli
all: $(BUILD)/bin/nsm-nitro-cli
PROG_nsm-nitro-cli := $(NITRO_CLI_SRC) $(EIF_LIB) $(COMMON_LIB) -larchive -ljansson \
                      -lcbor -lcrypto -lhogweed -lgmp -lz
$(foreach p,nsm-nitro-cli,$(eval $(call program_rule,$(p))))
.PHONY: install-nitro-cli uninstall-nitro-cli
install: install-nitro-cli
install-nitro-cli:
	install -d $(DESTDIR)$(NITRO_CLI_BINDIR)
	ln -sf $(PREFIX)/bin/nsm-nitro-cli $(DESTDIR)$(NITRO_CLI_BINDIR)/nitro-cli
uninstall: uninstall-nitro-cli
uninstall-nitro-cli:
	rm -f $(DESTDIR)$(NITRO_CLI_BINDIR)/nitro-cli
	-rmdir $(DESTDIR)$(NITRO_CLI_BINDIR) 2>/dev/null
# The layer writer's fuzz target (fuzz/fuzz_nitro_cli_layer.c) links libarchive, which no
# other target needs, so its two rules are spelled out here.
FUZZ_BUILDER_DEB_PACKAGES += libarchive-dev
NITRO_CLI_FUZZ_OBJ := $(call obj,nitro-cli/layer.c nitro-cli/codes.c)
$(BUILD)/fuzz/bin/fuzz_nitro_cli_layer: $(call obj,fuzz/fuzz_nitro_cli_layer.c) \
    $(NITRO_CLI_FUZZ_OBJ) $(FUZZ_SUPPORT_OBJ) $(STATIC_LIBS)
	@mkdir -p $(@D)
	$(FUZZ_LINK) $(ALL_CFLAGS) $(filter %.o,$^) $(STATIC_LIBS) $(LIB_FUZZING_ENGINE) \
	    $(ALL_LDFLAGS) $(LIBS) -larchive -o $@
$(BUILD)/fuzz/replay/fuzz_nitro_cli_layer: $(call obj,fuzz/fuzz_nitro_cli_layer.c) \
    $(call obj,fuzz/replay.c) $(NITRO_CLI_FUZZ_OBJ) $(FUZZ_SUPPORT_OBJ) $(STATIC_LIBS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(filter %.o,$^) $(STATIC_LIBS) $(ALL_LDFLAGS) $(LIBS) -larchive -o $@
# The enclave application of tests/nitro_cli_boot.sh: static, libc only (never sanitized).
NITRO_CLI_ATTEST := $(BUILD)/tests/nitro_cli_attest
TEST_PROGS += $(NITRO_CLI_ATTEST)
# (`check` names it itself: TEST_PROGS was read when the check rule was made)
check: $(NITRO_CLI_ATTEST)
$(NITRO_CLI_ATTEST): tests/nitro_cli_attest.c nsm-core/include/nsmkit/nsm_abi.h
	@mkdir -p $(@D)
	$(CC) -std=c11 -D_GNU_SOURCE $(WARNINGS) -O2 $(CFLAGS) -Insm-core/include -static $< -o $@
# ---- vsock for QEMU guests: the vhost-user backend (issue 19 item 2) -------------------------
# vsock/virtq.c (guest memory, split virtqueues), vsock/virtio_vsock_dev.c (the packet
# handler), vsock/vhost_user.c (the vhost-user messages) in libnsmvhost.a; the command
# `nsm-vsock vhost-user` is vsock/vhost_cmd.c. Their tests (tests/test_vhost*.c) and fuzz
# targets (fuzz_vhost_user, fuzz_vsock_pkt) link it.
VHOST_SRC := vsock/vhost_codes.c vsock/virtq.c vsock/virtio_vsock_dev.c vsock/vhost_user.c \
              vsock/virtq_fake.c
$(VHOST_LIB): $(call obj,$(VHOST_SRC))
$(filter $(BUILD)/tests/test_vhost%,$(UNIT_TESTS)): $(VHOST_LIB)
$(filter $(BUILD)/tests/test_vhost%,$(UNIT_TESTS)): STATIC_LIBS := $(VHOST_LIB) $(STATIC_LIBS)
VHOST_FUZZ := $(addprefix $(BUILD)/fuzz/bin/,fuzz_vhost_user fuzz_vsock_pkt) \
              $(addprefix $(BUILD)/fuzz/replay/,fuzz_vhost_user fuzz_vsock_pkt)
$(VHOST_FUZZ): $(VHOST_LIB)
$(VHOST_FUZZ): STATIC_LIBS := $(VHOST_LIB) $(STATIC_LIBS)
# The command: `nsm-vsock vhost-user` (vsock/vhost_cmd.c, with $(VHOST_LIB) in PROG_nsm-vsock).
all: $(VHOST_LIB)
# The guest's vsock client and server (static): it_qemu_vsock.sh and the guest benchmark.
$(QEMU_GUEST)/vsock_guest: tests/vsock_guest.c
	@mkdir -p $(@D)
	$(CC) $(GUEST_CFLAGS) $< $(GUEST_LDFLAGS) -o $@
$(QEMU_IMAGE)/initramfs.cpio: $(QEMU_GUEST)/vsock_guest
# The guest benchmark: one boot, vsock round trips and throughput beside virtio-serial's.
.PHONY: bench-vsock-guest
bench-vsock-guest: all qemu-image
	@echo "== bench/vsock_guest_bench.sh"
	@BUILD=$(BUILD) sh bench/vsock_guest_bench.sh
bench: bench-vsock-guest

# ---- nsm-qemu run-eif: nsmkit's enclave init and bootstrap ramdisk (issue 21) -----------------
# qemu/enclave-init.c keeps AWS init's contract (heartbeat, /env, /cmd, /rootfs, /nsm.ko);
# `make enclave-bootstrap` packs it as an image's first ramdisk, byte-reproducibly
# (qemu/build-bootstrap.sh; give it --nsm-ko FILE for a driver). The run-eif overlay
# (eif-overlay.cpio) is built with the QEMU image by qemu/build-image.sh.
ENCLAVE_BOOTSTRAP := $(BUILD)/qemu/enclave/bootstrap.cpio
$(QEMU_GUEST)/enclave-init: qemu/enclave-init.c qemu/enclave_lines.h
	@mkdir -p $(@D)
	$(CC) $(GUEST_CFLAGS) $< $(GUEST_LDFLAGS) -o $@
$(ENCLAVE_BOOTSTRAP): $(QEMU_GUEST)/enclave-init qemu/build-bootstrap.sh
	sh qemu/build-bootstrap.sh --init $< --output $@
.PHONY: enclave-bootstrap
enclave-bootstrap: $(ENCLAVE_BOOTSTRAP)
qemu-image: $(ENCLAVE_BOOTSTRAP)
$(BUILD)/bin/nsm-qemu-run-eif: qemu/run-eif.sh common/include/nsmkit/version.h
	@mkdir -p $(@D)
	sed 's/@NSMKIT_VERSION@/$(SO_VERSION)/' $< > $@.tmp && chmod 0755 $@.tmp && mv $@.tmp $@
all: $(BUILD)/bin/nsm-qemu-run-eif
# test_nitro_cli: the path rules and the code table (nitro-cli/layer.c, codes.c; libarchive).
$(BUILD)/tests/test_nitro_cli: $(call obj,tests/test_nitro_cli.c tests/testutil.c) \
    $(NITRO_CLI_FUZZ_OBJ) $(STATIC_LIBS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(filter %.o,$^) $(STATIC_LIBS) $(ALL_LDFLAGS) $(LIBS) -larchive \
	    -lcmocka -o $@
