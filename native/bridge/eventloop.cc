// libpurple's event loop UI ops, on GLib's default context (which pump.cc drives), plus the
// one thing GLib cannot tell us: which pending timeouts are libpurple's delayed saves.
#include "bridge.h"

#include <dlfcn.h>

#include <map>

namespace bridge {

namespace {

const int kReadCond = G_IO_IN | G_IO_HUP | G_IO_ERR;
const int kWriteCond = G_IO_OUT | G_IO_HUP | G_IO_ERR | G_IO_NVAL;

struct Input {
  PurpleInputFunction func;
  gpointer data;
};

gboolean InputDispatch(GIOChannel* source, GIOCondition condition, gpointer data) {
  auto* input = static_cast<Input*>(data);
  int cond = 0;
  if (condition & kReadCond) cond |= PURPLE_INPUT_READ;
  if (condition & kWriteCond) cond |= PURPLE_INPUT_WRITE;
  input->func(input->data, g_io_channel_unix_get_fd(source), static_cast<PurpleInputCondition>(cond));
  return TRUE;
}

guint InputAdd(gint fd, PurpleInputCondition condition, PurpleInputFunction func, gpointer data) {
  int cond = 0;
  if (condition & PURPLE_INPUT_READ) cond |= kReadCond;
  if (condition & PURPLE_INPUT_WRITE) cond |= kWriteCond;
  GIOChannel* channel = g_io_channel_unix_new(fd);
  guint id = g_io_add_watch_full(channel, G_PRIORITY_DEFAULT, static_cast<GIOCondition>(cond), InputDispatch,
                                 new Input{func, data}, [](gpointer p) { delete static_cast<Input*>(p); });
  g_io_channel_unref(channel);
  return id;
}

// Every libpurple subsystem that writes a file (accounts, blist, prefs, statuses, pounces,
// smileys) schedules it as timeout_add_seconds(5, save_cb, NULL) and offers no public way to
// write now. Remembering those timeouts lets flush() run them early, which is exactly what
// libpurple itself would run 5 s later.
struct Seconds {
  guint id;
  guint interval;
  GSourceFunc func;
  gpointer data;
};
std::map<guint, Seconds*> secondsTimeouts;

gboolean SecondsDispatch(gpointer p) {
  auto* s = static_cast<Seconds*>(p);
  return s->func(s->data);
}

guint TimeoutAddSeconds(guint interval, GSourceFunc func, gpointer data) {
  auto* s = new Seconds{0, interval, func, data};
  s->id = g_timeout_add_seconds_full(G_PRIORITY_DEFAULT, interval, SecondsDispatch, s, [](gpointer p) {
    auto* s = static_cast<Seconds*>(p);
    secondsTimeouts.erase(s->id);
    delete s;
  });
  secondsTimeouts[s->id] = s;
  return s->id;
}

guint TimeoutAdd(guint interval, GSourceFunc func, gpointer data) { return g_timeout_add(interval, func, data); }

gboolean SourceRemove(guint id) { return g_source_remove(id); }

PurpleEventLoopUiOps ops = {
    TimeoutAdd, SourceRemove, InputAdd, SourceRemove, nullptr, TimeoutAddSeconds, nullptr, nullptr, nullptr,
};

}  // namespace

PurpleEventLoopUiOps* EventLoopUiOps() { return &ops; }

int RunPendingSaves(const char* libpurplePath) {
  std::vector<guint> due;
  for (auto& [id, s] : secondsTimeouts) {
    Dl_info info;
    if (s->interval != 5 || s->data != nullptr) continue;
    if (dladdr(reinterpret_cast<void*>(s->func), &info) == 0 || info.dli_fname == nullptr) continue;
    if (g_strcmp0(info.dli_fname, libpurplePath) != 0) continue;
    due.push_back(id);
  }
  int ran = 0;
  for (guint id : due) {
    auto it = secondsTimeouts.find(id);
    if (it == secondsTimeouts.end()) continue;  // an earlier save removed it
    Seconds* s = it->second;
    ran++;
    if (!s->func(s->data)) g_source_remove(id);
  }
  return ran;
}

}  // namespace bridge
