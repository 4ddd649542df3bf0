/* bindings/smipc.i: smipc's C API (include/smipc.h) for the languages SWIG generates.
 *
 * One interface for every language. The language-neutral part wraps the header as it
 * is, under names without the prefix (smipc_server_send -> server_send, SMIPC_EEXIST ->
 * EEXIST): every call returns the C status, and what C returns through pointers comes
 * back through one-element arrays (Java long[], Go []int64). A block per language
 * follows only where that language needs one: how its bytes reach a void * (a direct
 * ByteBuffer in Java, a []byte in Go, neither copied), Java's 64-bit ids as long, and the
 * Java classes' names and visibility.
 *
 * Over this, each language has a thin layer of its own (bindings/java/org/smipc,
 * bindings/go): statuses become exceptions or error values, and calls in flight are
 * counted so that close() while another thread is blocked is safe. */
%module smipc

%{
#include <stdlib.h>
#include <smipc.h>

/* Zero-copy memory (a loan's room, a view's message) as one value: each language's "out"
   typemap below turns it into its own type, over the memory itself (no copy). */
typedef struct smipc_span {
    void *p; /* NULL on failure */
    size_t n;
} smipc_span;

/* An empty message or loan has memory too (one static byte): only a failure is empty. */
static unsigned char smipc_span_empty[1];

static smipc_span smipc_span_of(int status, void *p, size_t n) {
    smipc_span s = {NULL, 0};
    if (status == SMIPC_OK) {
        s.p = p ? p : smipc_span_empty;
        s.n = n;
    }
    return s;
}
%}

%include <stdint.i>
%include <typemaps.i>

#if defined(SWIGJAVA)
/* ids and sizes are Java longs (SWIG's default for uint64_t is BigInteger) */
%apply long long { uint64_t };
/* plain int constants: the statuses are small negative numbers, pasted as they are;
   the flags are C expressions (1u << 0), so their values are given */
%include <enumtypeunsafe.swg>
%javaconst(1);
%javaconstvalue(1) SMIPC_NO_CHECKSUM;
%javaconstvalue(2) SMIPC_ALLOW_ANY_UID;
%javaconstvalue(4) SMIPC_EVENTS;
%javaconstvalue(1) SMIPC_MSG_BROADCAST;
%javaconstvalue(2) SMIPC_MSG_COPY;
#endif

/* The prefix goes: the module (Java package org.smipc, Go package) already says smipc. */
%rename("%(regex:/^(smipc|SMIPC)_(.*)/\\2/)s") "";
%rename(Status) smipc_status;
%rename(ServerFlag) smipc_server_flag;
%rename(EventKind) smipc_event_kind;
%rename(ServerConfig) smipc_server_config;
%rename(MessageFlag) smipc_message_flag;

/* Outputs through pointers: a one-element array the caller passes. */
%apply long long *OUTPUT { smipc_client_id *from, size_t *delivered, size_t *count, int *status,
                           int *kind, uint32_t *flags, uint64_t *pin };
/* in: the buffer's capacity; out: the message's length (or, SMIPC_ETOOSMALL, the size
   needed) */
%apply long long *INOUT { size_t *len };

/* The out-handle becomes the result (both languages return one value), see below. */
%ignore smipc_server_open;
%ignore smipc_client_connect;
%ignore smipc_client_connect_wait;
/* (char *path, size_t cap) maps to neither language: name_path_of below returns a string */
%ignore smipc_name_path;
%ignore smipc_server_config::reserved;
/* Zero-copy: the calls with a void ** out (and the pin) are wrapped below, each as one call
   that returns the memory (a smipc_span); commit, cancel_loan and release are as they are.
   The language layers keep that memory mapped for as long as their objects can reach it
   (pinned, never by holding the handle). */
%ignore smipc_client_loan;
%ignore smipc_client_recv_view;
%ignore smipc_server_recv_view;
%ignore smipc_server_pin;
%ignore smipc_server_unpin;
%ignore smipc_client_pin;
%ignore smipc_client_unpin;
%ignore smipc_server_loan;
%ignore smipc_server_pin_loan;
%ignore SMIPC_VERSION_MAJOR; /* smipc_version() says it */
%ignore SMIPC_VERSION_MINOR;
%ignore SMIPC_VERSION_PATCH;

/* A config starts as the library's defaults, not SWIG's calloc. */
%extend smipc_server_config {
    smipc_server_config() {
        smipc_server_config *cfg = (smipc_server_config *)calloc(1, sizeof *cfg);
        if (cfg)
            smipc_server_config_init(cfg);
        return cfg;
    }
    ~smipc_server_config() { free($self); }
}

#if defined(SWIGJAVA)
%rename(maxClients) smipc_server_config::max_clients;
%rename(packetSize) smipc_server_config::packet_size;
%rename(ringPackets) smipc_server_config::ring_packets;
%rename(maxMessageSize) smipc_server_config::max_message_size;
%rename(bulkSize) smipc_server_config::bulk_size;
%rename(bulkSlots) smipc_server_config::bulk_slots;

/* void *buf: a direct ByteBuffer, used in place (GetByteArrayElements would copy). The
   Java layer checks lengths against the buffer and passes a slice for a position. */
%typemap(jni) void *buf, const void *buf "jobject"
%typemap(jtype) void *buf, const void *buf "java.nio.ByteBuffer"
%typemap(jstype) void *buf, const void *buf "java.nio.ByteBuffer"
%typemap(javain) void *buf, const void *buf "$javainput"
%typemap(in) void *buf, const void *buf {
    $1 = $input ? JCALL1(GetDirectBufferAddress, jenv, $input) : NULL;
    if ($input && !$1) {
        SWIG_JavaThrowException(jenv, SWIG_JavaIllegalArgumentException,
                                "smipc needs a direct ByteBuffer");
        return $null;
    }
}

/* smipc_span: a direct ByteBuffer over the memory itself (null on failure). If the JVM has
   no room for the buffer object, null too, and the Java layer undoes the loan or view. */
%typemap(jni) smipc_span "jobject"
%typemap(jtype) smipc_span "java.nio.ByteBuffer"
%typemap(jstype) smipc_span "java.nio.ByteBuffer"
%typemap(javaout) smipc_span { return $jnicall; }
%typemap(out) smipc_span {
    $result = $1.p ? JCALL2(NewDirectByteBuffer, jenv, $1.p, (jlong)$1.n) : NULL;
    if ($1.p && !$result)
        JCALL0(ExceptionClear, jenv);
}

/* smipc_client_id *ids: a long[] filled in place */
%typemap(jni) smipc_client_id *ids "jlongArray"
%typemap(jtype) smipc_client_id *ids "long[]"
%typemap(jstype) smipc_client_id *ids "long[]"
%typemap(javain) smipc_client_id *ids "$javainput"
%typemap(in) smipc_client_id *ids {
    $1 = (smipc_client_id *)JCALL2(GetLongArrayElements, jenv, $input, NULL);
    if (!$1)
        return $null;
}
%typemap(argout) smipc_client_id *ids { JCALL3(ReleaseLongArrayElements, jenv, $input, (jlong *)$1, 0); }

/* Only ServerConfig, Status and ServerFlag are public; the rest is the package's own. */
%typemap(javaclassmodifiers) SWIGTYPE, SWIGTYPE *, SWIGTYPE &, SWIGTYPE [] "final class"
%typemap(javaclassmodifiers) struct smipc_server_config "public final class"
%pragma(java) moduleclassmodifiers = "final class"
%pragma(java) jniclassclassmodifiers = "final class"
%pragma(java) jniclasscode = %{
  static {
    System.loadLibrary("smipc_java");  // libsmipc_java.so, on java.library.path
  }
%}

/* A ServerConfig is memory, not a handle: a Cleaner frees it when it is unreachable
   (no finalize()); delete() frees it at once. */
%typemap(javafinalize) struct smipc_server_config ""
%typemap(javaconstruct) struct smipc_server_config {
    this($imcall, true);
    cleanable = CLEANER.register(this, new Free(swigCPtr));
  }
%typemap(javadestruct, methodname = "delete", methodmodifiers = "public synchronized") struct smipc_server_config {
    if (cleanable != null)
      cleanable.clean();
    swigCPtr = 0;
  }
%typemap(javacode) struct smipc_server_config %{
  private static final java.lang.ref.Cleaner CLEANER = java.lang.ref.Cleaner.create();
  private java.lang.ref.Cleaner.Cleanable cleanable;

  private static final class Free implements Runnable {
    private final long ptr;

    Free(long ptr) {
      this.ptr = ptr;
    }

    public void run() {
      smipcJNI.delete_ServerConfig(ptr);
    }
  }

  /** Whether messages carry CRC32C checksums (the default); sets or clears NO_CHECKSUM. */
  public ServerConfig setChecksum(boolean on) {
    setFlags(on ? getFlags() & ~ServerFlag.NO_CHECKSUM : getFlags() | ServerFlag.NO_CHECKSUM);
    return this;
  }

  /**
   * Whether {@link Server#recvEvent} also tells when a client joined and when it left
   * (off by default); sets or clears EVENTS. {@link Server#recv} passes them over.
   */
  public ServerConfig setEvents(boolean on) {
    setFlags(on ? getFlags() | ServerFlag.EVENTS : getFlags() & ~ServerFlag.EVENTS);
    return this;
  }
%}
#endif

#if defined(SWIGGO)
/* void *buf: a []byte, used in place; the Go layer passes its length. */
%typemap(gotype) void *buf, const void *buf "[]byte"
%typemap(in) void *buf, const void *buf { $1 = ($1_ltype)$input.array; }
%typemap(gotype) smipc_client_id *ids "[]uint64"
%typemap(in) smipc_client_id *ids { $1 = (smipc_client_id *)$input.array; }
/* smipc_span: a []byte over the memory itself (nil on failure); Go's collector never
   frees it, and the Go layer keeps it mapped. */
%typemap(gotype) smipc_span "[]byte"
%typemap(imtype) smipc_span "[]byte"
%typemap(out) smipc_span {
    $result.array = $1.p;
    $result.len = (intgo)$1.n;
    $result.cap = (intgo)$1.n;
}
%typemap(goout) smipc_span ""
#endif

%include <smipc.h>

/* smipc_server_open and smipc_client_connect(_wait) with the handle as the result: NULL, and
   *status says why, on failure. smipc_name_path as a string (NULL, and *status says why,
   on failure): for error messages that say where a name was looked for. */
%newobject smipc_name_path_of;
%inline %{
static smipc_server *smipc_server_open_handle(const char *name, const smipc_server_config *cfg,
                                              int *status) {
    smipc_server *srv = NULL;
    *status = smipc_server_open(&srv, name, cfg);
    return srv;
}

static smipc_client *smipc_client_connect_handle(const char *name, int timeout_ms,
                                                 int *status) {
    smipc_client *cli = NULL;
    *status = smipc_client_connect(&cli, name, timeout_ms);
    return cli;
}

static smipc_client *smipc_client_connect_wait_handle(const char *name, int timeout_ms,
                                                      int *status) {
    smipc_client *cli = NULL;
    *status = smipc_client_connect_wait(&cli, name, timeout_ms);
    return cli;
}

static char *smipc_name_path_of(const char *name, int *status) {
    char *path = (char *)malloc(4096); /* 108 bytes do; a path name may be longer */
    if (!path) {
        *status = SMIPC_ENOMEM;
        return NULL;
    }
    *status = smipc_name_path(name, path, 4096);
    if (*status != SMIPC_OK) {
        free(path);
        return NULL;
    }
    return path;
}
%}

/* Zero-copy, one call each, the memory as the result (a smipc_span, empty on failure, and
   *status says why). What a loan or a view in place shows is pinned in the same call, so
   that it stays mapped for as long as a language's buffers can reach it, and *pin says
   by what (0: nothing, a view that is a private copy, SMIPC_MSG_COPY). A server's view by
   smipc_server_pin, a server's loan by smipc_server_pin_loan (the lent memory stays mapped
   past the commit, the client's departure and close); either is let go by
   server_unpin_view, smipc_server_unpin with the pin as a number. A client's loan and
   view by smipc_client_pin: the connection's memory stays mapped past smipc_client_close
   (the handle's descriptors close with it), let go by client_unpin_view. A loan that
   cannot be pinned is cancelled and fails with that status; a view in place that cannot
   be pinned comes with *pin 0, and the language layer copies it before the release. */
typedef struct smipc_span smipc_span;
%inline %{
static smipc_span smipc_client_loan_span(smipc_client *cli, size_t len, uint64_t *pin,
                                         int timeout_ms, int *status) {
    void *p = NULL;
    void *pinned = NULL;
    *pin = 0;
    *status = smipc_client_loan(cli, &p, len, timeout_ms);
    if (*status == SMIPC_OK) {
        int rc = smipc_client_pin(cli, &pinned);
        if (rc == SMIPC_OK) {
            *pin = (uint64_t)(uintptr_t)pinned;
        } else { /* unpinned memory could go while a buffer reaches it: no loan */
            smipc_client_cancel_loan(cli);
            *status = rc;
        }
    }
    return smipc_span_of(*status, p, len);
}

static smipc_span smipc_server_loan_span(smipc_server *srv, smipc_client_id to, size_t len,
                                         uint64_t *pin, int timeout_ms, int *status) {
    void *p = NULL;
    void *pinned = NULL;
    *pin = 0;
    *status = smipc_server_loan(srv, to, &p, len, timeout_ms);
    if (*status == SMIPC_OK) {
        int rc = smipc_server_pin_loan(srv, to, &pinned);
        if (rc == SMIPC_OK) {
            *pin = (uint64_t)(uintptr_t)pinned;
        } else { /* unpinned memory could go while a buffer reaches it: no loan */
            smipc_server_cancel_loan(srv, to);
            *status = rc;
        }
    }
    return smipc_span_of(*status, p, len);
}

static smipc_span smipc_client_recv_view_span(smipc_client *cli, uint32_t *flags,
                                              uint64_t *pin, int timeout_ms, int *status) {
    const void *p = NULL;
    size_t n = 0;
    void *pinned = NULL;
    *flags = 0;
    *pin = 0;
    *status = smipc_client_recv_view(cli, &p, &n, flags, timeout_ms);
    if (*status == SMIPC_OK && !(*flags & SMIPC_MSG_COPY) &&
        smipc_client_pin(cli, &pinned) == SMIPC_OK)
        *pin = (uint64_t)(uintptr_t)pinned;
    return smipc_span_of(*status, (void *)p, n);
}

static smipc_span smipc_server_recv_view_span(smipc_server *srv, smipc_client_id *from,
                                              uint32_t *flags, uint64_t *pin, int timeout_ms,
                                              int *status) {
    const void *p = NULL;
    size_t n = 0;
    void *pinned = NULL;
    *flags = 0;
    *pin = 0;
    *status = smipc_server_recv_view(srv, from, &p, &n, flags, timeout_ms);
    if (*status == SMIPC_OK && !(*flags & SMIPC_MSG_COPY) &&
        smipc_server_pin(srv, &pinned) == SMIPC_OK)
        *pin = (uint64_t)(uintptr_t)pinned;
    return smipc_span_of(*status, (void *)p, n);
}

static void smipc_server_unpin_view(uint64_t pin) {
    smipc_server_unpin((void *)(uintptr_t)pin);
}

static void smipc_client_unpin_view(uint64_t pin) {
    smipc_client_unpin((void *)(uintptr_t)pin);
}
%}
