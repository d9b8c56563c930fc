/* The control connection to the daemon: JSON lines over <dataDir>/control.sock
 * (docs/control-protocol.md), all asynchronous on the GLib main loop. Requests wait until the
 * daemon answered `hello`; when nothing answers (ENOENT, ECONNREFUSED) the daemon is spawned
 * (spawn.c) and connecting is retried every 200 ms for up to 30 s. */
#include "po.h"
#include <string.h>
#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <debug.h>
#include <eventloop.h>
#include <notify.h>
#include <prefs.h>

#define PO_MAX_LINE 65536
#define RETRY_MS 200
#define RETRY_FOR_US (30 * G_USEC_PER_SEC)
#define RECONNECT_MS 1000

typedef struct {
  gint64 id;
  gint64 starting_until; /* monotonic µs: how long an answer "starting" is retried */
  char *line;
  PoReplyFunc cb;
  gpointer data;
  GDestroyNotify destroy;
} Request;

static struct {
  GSocketClient *client;
  GCancellable *cancel; /* this connection (or attempt); cancelled when it ends */
  GSocketConnection *conn;
  GDataInputStream *in;
  GOutputStream *out;
  GQueue waiting;  /* not sent yet: the daemon has not answered hello */
  GQueue inflight; /* sent, answer pending, in order */
  GQueue held;     /* answered "starting" (tor being launched, accounts loading): sent again soon */
  guint held_timer;
  GQueue writes;   /* GBytes */
  gboolean writing, connecting, ready, spawned, refused;
  gint64 next_id, deadline;
  guint retry_timer;
  char *data_dir;
} d;

/* ---- json helpers ---- */
const char *po_json_string(JsonObject *o, const char *member) {
  JsonNode *n = o && json_object_has_member(o, member) ? json_object_get_member(o, member) : NULL;
  return n && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING ? json_node_get_string(n) : NULL;
}
gint64 po_json_int(JsonObject *o, const char *member, gint64 fallback) {
  JsonNode *n = o && json_object_has_member(o, member) ? json_object_get_member(o, member) : NULL;
  return n && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_INT64 ? json_node_get_int(n) : fallback;
}
JsonObject *po_json_object(JsonObject *o, const char *member) {
  JsonNode *n = o && json_object_has_member(o, member) ? json_object_get_member(o, member) : NULL;
  return n && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
}

/* ---- where ---- */
char *po_data_dir(void) {
  const char *pref = purple_prefs_get_string(PO_PREF_DATA_DIR);
  if (pref && *pref) return g_strdup(pref);
  const char *env = g_getenv("PURPLE_ONION_DATA_DIR");
  if (env && *env) return g_strdup(env);
  env = g_getenv("XDG_DATA_HOME");
  if (env && *env) return g_build_filename(env, "purple-onion", NULL);
  return g_build_filename(g_get_home_dir(), ".local", "share", "purple-onion", NULL);
}

/* ---- requests ---- */
static void request_free(Request *r) {
  if (r->destroy) r->destroy(r->data);
  g_free(r->line);
  g_free(r);
}

static void request_finish(Request *r, JsonObject *result, const char *code, const char *message) {
  if (r->cb) r->cb(result, code, message, r->data);
  request_free(r);
}

static void fail_queue(GQueue *q, const char *code, const char *message) {
  Request *r;
  while ((r = g_queue_pop_head(q)) != NULL) request_finish(r, NULL, code, message);
}

static char *serialize(JsonObject *o) {
  JsonNode *root = json_node_init_object(json_node_alloc(), o);
  JsonGenerator *gen = json_generator_new();
  json_generator_set_root(gen, root);
  char *text = json_generator_to_data(gen, NULL);
  g_object_unref(gen);
  json_node_unref(root);
  char *line = g_strconcat(text, "\n", NULL);
  g_free(text);
  return line;
}

static Request *request_new(const char *op, JsonObject *args, PoReplyFunc cb, gpointer data, GDestroyNotify destroy) {
  Request *r = g_new0(Request, 1);
  r->id = ++d.next_id;
  r->cb = cb;
  r->data = data;
  r->destroy = destroy;
  JsonObject *o = json_object_new();
  json_object_set_int_member(o, "id", r->id);
  json_object_set_string_member(o, "op", op);
  json_object_set_object_member(o, "args", args ? args : json_object_new());
  r->line = serialize(o);
  json_object_unref(o);
  return r;
}

/* ---- writing ---- */
static void write_next(void);

static void write_done(GObject *source, GAsyncResult *res, gpointer user_data) {
  GError *error = NULL;
  gboolean ok = g_output_stream_write_all_finish(G_OUTPUT_STREAM(source), res, NULL, &error);
  g_bytes_unref(user_data);
  if (!ok) {
    /* Cancelled: the connection is gone and d is already reset. Otherwise the reader sees it too. */
    if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
      purple_debug_warning(PO_PLUGIN_ID, "writing to the daemon failed: %s\n", error->message);
    g_error_free(error);
    return;
  }
  d.writing = FALSE;
  write_next();
}

static void write_next(void) {
  if (d.writing || d.out == NULL) return;
  GBytes *b = g_queue_pop_head(&d.writes);
  if (b == NULL) return;
  d.writing = TRUE;
  gsize size;
  gconstpointer data = g_bytes_get_data(b, &size);
  g_output_stream_write_all_async(d.out, data, size, G_PRIORITY_DEFAULT, d.cancel, write_done, b);
}

static void send_request(Request *r) {
  g_queue_push_tail(&d.inflight, r);
  g_queue_push_tail(&d.writes, g_bytes_new(r->line, strlen(r->line)));
  write_next();
}

/* A daemon that is still starting (launching tor, loading accounts) answers "starting": the
 * request goes again every 200 ms for up to 30 s, so a tick right after the daemon was spawned
 * still signs the companion on at once. */
static gboolean send_held(gpointer unused) {
  d.held_timer = 0;
  Request *r;
  while ((r = g_queue_pop_head(&d.held)) != NULL) {
    if (d.ready) send_request(r);
    else g_queue_push_tail(&d.waiting, r);
  }
  return FALSE;
}

static gboolean hold(Request *r) {
  gint64 now = g_get_monotonic_time();
  if (r->starting_until == 0) r->starting_until = now + 30 * G_USEC_PER_SEC;
  if (now >= r->starting_until) return FALSE;
  g_queue_push_tail(&d.held, r);
  if (d.held_timer == 0) d.held_timer = purple_timeout_add(200, send_held, NULL);
  return TRUE;
}

/* ---- connection lifetime ---- */
static void ensure_connecting(void);

static void drop_connection(void) {
  if (d.cancel) {
    g_cancellable_cancel(d.cancel);
    g_clear_object(&d.cancel);
  }
  if (d.conn) g_io_stream_close(G_IO_STREAM(d.conn), NULL, NULL);
  g_clear_object(&d.in);
  d.out = NULL;
  g_clear_object(&d.conn);
  g_queue_clear_full(&d.writes, (GDestroyNotify)g_bytes_unref);
  g_queue_init(&d.writes);
  d.writing = d.ready = d.connecting = FALSE;
}

static gboolean reconnect_cb(gpointer unused) {
  d.retry_timer = 0;
  ensure_connecting();
  return FALSE;
}

static void connection_lost(const char *why) {
  purple_debug_info(PO_PLUGIN_ID, "control connection ended: %s\n", why);
  drop_connection();
  fail_queue(&d.inflight, "po-gone", "the purple-onion daemon closed the control connection");
  po_tor_notify_reset();
  /* Keep events (tor state) and the companions' port current: come back if anything needs us. */
  GList *companions = po_companions();
  gboolean needed = companions != NULL || !g_queue_is_empty(&d.waiting);
  g_list_free(companions);
  if (needed && d.retry_timer == 0) d.retry_timer = purple_timeout_add(RECONNECT_MS, reconnect_cb, NULL);
}

/* ---- reading ---- */
static void handle_event(const char *name, JsonObject *data) {
  if (g_strcmp0(name, "tor.changed") == 0) po_tor_notify(data);
  else purple_debug_info(PO_PLUGIN_ID, "daemon event %s\n", name);
}

static void handle_line(const char *line) {
  JsonParser *parser = json_parser_new();
  GError *error = NULL;
  if (!json_parser_load_from_data(parser, line, -1, &error) || !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser))) {
    purple_debug_warning(PO_PLUGIN_ID, "the daemon sent a line that is not a JSON object\n");
    g_clear_error(&error);
    g_object_unref(parser);
    return;
  }
  JsonObject *o = json_node_get_object(json_parser_get_root(parser));
  const char *event = po_json_string(o, "event");
  if (event != NULL) {
    JsonObject *data = po_json_object(o, "data");
    if (data) handle_event(event, data);
  } else if (json_object_has_member(o, "ok")) {
    /* Answers come in order; an id names the request, null means the oldest. */
    gint64 id = po_json_int(o, "id", -1);
    Request *r = NULL;
    for (GList *l = d.inflight.head; l && id >= 0; l = l->next)
      if (((Request *)l->data)->id == id) {
        r = l->data;
        g_queue_delete_link(&d.inflight, l);
        break;
      }
    if (r == NULL) r = g_queue_pop_head(&d.inflight);
    if (r != NULL) {
      if (json_object_get_boolean_member(o, "ok")) {
        JsonObject *result = po_json_object(o, "result");
        JsonObject *empty = result ? NULL : json_object_new();
        request_finish(r, result ? result : empty, NULL, NULL);
        if (empty) json_object_unref(empty);
      } else {
        JsonObject *err = po_json_object(o, "error");
        const char *code = po_json_string(err, "code");
        const char *message = po_json_string(err, "message");
        if (g_strcmp0(code, "starting") != 0 || !hold(r))
          request_finish(r, NULL, code ? code : "internal", message ? message : "the daemon reported an error");
      }
    }
  }
  g_object_unref(parser);
}

static void read_next(void);

static void read_done(GObject *source, GAsyncResult *res, gpointer unused) {
  GError *error = NULL;
  gsize length = 0;
  char *line = g_data_input_stream_read_line_finish(G_DATA_INPUT_STREAM(source), res, &length, &error);
  if (error != NULL) {
    gboolean cancelled = g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
    if (!cancelled) connection_lost(error->message);
    g_error_free(error);
    return;
  }
  if (line == NULL) {
    connection_lost("end of file");
    return;
  }
  if (length > PO_MAX_LINE) {
    g_free(line);
    connection_lost("a line over 65536 bytes");
    return;
  }
  g_strchomp(line);
  if (*line != '\0') handle_line(line);
  g_free(line);
  if (d.in != NULL && G_OBJECT(d.in) == source) read_next();
}

static void read_next(void) {
  g_data_input_stream_read_line_async(d.in, G_PRIORITY_DEFAULT, d.cancel, read_done, NULL);
}

/* ---- hello, subscribe ---- */
static void status_done(JsonObject *result, const char *code, const char *message, gpointer unused) {
  if (result) po_companion_daemon_ready(result);
}

static void hello_done(JsonObject *result, const char *code, const char *message, gpointer unused) {
  if (result == NULL) {
    if (g_strcmp0(code, "po-gone") != 0) {
      drop_connection();
      fail_queue(&d.inflight, "po-gone", message);
      fail_queue(&d.waiting, code, message);
    }
    return;
  }
  gint64 protocol = po_json_int(result, "protocol", -1);
  if (protocol != PO_CONTROL_PROTOCOL) {
    char *text = g_strdup_printf(
        "the running purple-onion daemon speaks protocol %" G_GINT64_FORMAT ", this plugin %d: stop it with "
        "`purple-onion stop --data-dir %s` and tick again",
        protocol, PO_CONTROL_PROTOCOL, d.data_dir);
    purple_notify_error(po_plugin, "Purple Onion", "The purple-onion daemon is a different version", text);
    drop_connection();
    fail_queue(&d.inflight, "po-protocol", text);
    fail_queue(&d.waiting, "po-protocol", text);
    g_free(text);
    return;
  }
  d.ready = TRUE;
  send_request(request_new("subscribe", NULL, NULL, NULL, NULL));
  send_request(request_new("status", NULL, status_done, NULL, NULL));
  Request *r;
  while ((r = g_queue_pop_head(&d.waiting)) != NULL) send_request(r);
}

/* ---- connecting ---- */
static void give_up(const char *text) {
  d.connecting = FALSE;
  if (!g_queue_is_empty(&d.waiting))
    purple_notify_error(po_plugin, "Purple Onion", "The purple-onion daemon is not running", text);
  else
    purple_debug_warning(PO_PLUGIN_ID, "%s\n", text);
  fail_queue(&d.waiting, "po-unreachable", text);
}

static void try_connect(void);

static gboolean retry_cb(gpointer unused) {
  d.retry_timer = 0;
  try_connect();
  return FALSE;
}

static gboolean no_daemon(GError *error) {
  return g_error_matches(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND) ||
         g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
}

static void connect_done(GObject *source, GAsyncResult *res, gpointer unused) {
  GError *error = NULL;
  GSocketConnection *conn = g_socket_client_connect_finish(G_SOCKET_CLIENT(source), res, &error);
  if (conn == NULL) {
    if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
      g_error_free(error);
      return;
    }
    purple_debug_info(PO_PLUGIN_ID, "control socket: %s\n", error->message);
    if (no_daemon(error) && !d.spawned) {
      GError *spawn_error = NULL;
      d.spawned = TRUE;
      if (!po_spawn_daemon(d.data_dir, &spawn_error)) {
        give_up(spawn_error->message);
        g_error_free(spawn_error);
        g_error_free(error);
        return;
      }
    }
    g_error_free(error);
    if (g_get_monotonic_time() < d.deadline) {
      d.retry_timer = purple_timeout_add(RETRY_MS, retry_cb, NULL);
    } else {
      char *log = po_log_path(d.data_dir);
      char *text = g_strdup_printf("nothing answered on %s/control.sock for 30 s: see %s", d.data_dir, log);
      give_up(text);
      g_free(text);
      g_free(log);
    }
    return;
  }
  d.connecting = FALSE;
  d.conn = conn;
  d.in = g_data_input_stream_new(g_io_stream_get_input_stream(G_IO_STREAM(conn)));
  g_data_input_stream_set_newline_type(d.in, G_DATA_STREAM_NEWLINE_TYPE_LF);
  d.out = g_io_stream_get_output_stream(G_IO_STREAM(conn));
  read_next();
  JsonObject *args = json_object_new();
  json_object_set_int_member(args, "protocol", PO_CONTROL_PROTOCOL);
  json_object_set_string_member(args, "client", PO_CLIENT_NAME);
  send_request(request_new("hello", args, hello_done, NULL, NULL));
}

static void try_connect(void) {
  char *path = g_build_filename(d.data_dir, "control.sock", NULL);
  if (strlen(path) > 107) {
    char *text = g_strdup_printf("the control socket path %s is longer than 107 bytes: choose a shorter data dir", path);
    give_up(text);
    g_free(text);
    g_free(path);
    return;
  }
  if (d.cancel == NULL) d.cancel = g_cancellable_new();
  if (d.client == NULL) d.client = g_socket_client_new();
  GSocketAddress *address = g_unix_socket_address_new(path);
  g_socket_client_connect_async(d.client, G_SOCKET_CONNECTABLE(address), d.cancel, connect_done, NULL);
  g_object_unref(address);
  g_free(path);
}

static void ensure_connecting(void) {
  if (d.conn != NULL || d.connecting || d.retry_timer != 0) return;
  d.connecting = TRUE;
  d.spawned = FALSE;
  d.deadline = g_get_monotonic_time() + RETRY_FOR_US;
  g_free(d.data_dir);
  d.data_dir = po_data_dir();
  try_connect();
}

void po_daemon_request(const char *op, JsonObject *args, PoReplyFunc cb, gpointer data, GDestroyNotify destroy) {
  Request *r = request_new(op, args, cb, data, destroy);
  if (d.ready) {
    send_request(r);
    return;
  }
  g_queue_push_tail(&d.waiting, r);
  if (d.retry_timer != 0 && !d.connecting) {
    /* A reconnect is scheduled: do it now. */
    purple_timeout_remove(d.retry_timer);
    d.retry_timer = 0;
  }
  ensure_connecting();
}

/* Unload: tell an owned daemon to stop (one short line, written directly to the socket so it
 * goes out even with a write pending), then drop everything without calling back. */
void po_daemon_stop(void) {
  if (po_spawn_owns_child()) {
    if (d.ready && d.conn != NULL) {
      Request *r = request_new("shutdown", NULL, NULL, NULL, NULL);
      GSocket *socket = g_socket_connection_get_socket(d.conn);
      gssize sent = g_socket_send(socket, r->line, strlen(r->line), NULL, NULL);
      purple_debug_info(PO_PLUGIN_ID, "asked the daemon to shut down (%s)\n", sent > 0 ? "sent" : "failed");
      request_free(r);
      po_spawn_forget(sent <= 0);
    } else {
      po_spawn_forget(TRUE);
    }
  } else {
    po_spawn_forget(FALSE);
  }
  if (d.retry_timer) purple_timeout_remove(d.retry_timer);
  d.retry_timer = 0;
  if (d.held_timer) purple_timeout_remove(d.held_timer);
  d.held_timer = 0;
  g_queue_clear_full(&d.held, (GDestroyNotify)request_free);
  g_queue_init(&d.held);
  drop_connection();
  g_queue_clear_full(&d.inflight, (GDestroyNotify)request_free);
  g_queue_clear_full(&d.waiting, (GDestroyNotify)request_free);
  g_queue_init(&d.inflight);
  g_queue_init(&d.waiting);
  g_clear_object(&d.client);
  g_clear_pointer(&d.data_dir, g_free);
}
