// GLib's default main context, driven from libuv on the Node thread (design/BRIDGE.md):
// prepare/query → one uv_poll_t per fd GLib wants (merged: GLib may list an fd twice) plus a
// uv_timer_t for its timeout → check + dispatch when either fires, then prepare again. Nothing
// polls on a clock: an idle bridge wakes only when libpurple has work.
#include "bridge.h"

#include <uv.h>

#include <map>

namespace bridge {

namespace {

struct Watch {
  uv_poll_t handle;
  int fd;
  int revents;  // GIOCondition bits seen since the last dispatch
};

GMainContext* context = nullptr;
uv_loop_t* loop = nullptr;
uv_timer_t timer;
// Poll callbacks of one loop iteration only collect what fired; the check phase dispatches once
// for all of them, so GLib never sees a stale "readable" for an fd another source just drained.
uv_check_t check;
std::map<int, Watch*> watches;
std::vector<GPollFD> fds;
gint maxPriority = 0;
bool prepared = false;
bool running = false;

void Arm();

void Dispatch() {
  if (!running) return;
  if (prepared) {
    prepared = false;
    for (GPollFD& p : fds) {
      auto it = watches.find(p.fd);
      int seen = it == watches.end() ? 0 : it->second->revents;
      p.revents = static_cast<gushort>(seen & (p.events | G_IO_ERR | G_IO_HUP | G_IO_NVAL));
    }
    for (auto& [fd, w] : watches) w->revents = 0;
    if (g_main_context_check(context, maxPriority, fds.data(), static_cast<gint>(fds.size()))) {
      g_main_context_dispatch(context);
    }
  }
  Arm();
}

void OnPoll(uv_poll_t* handle, int status, int events) {
  auto* w = static_cast<Watch*>(handle->data);
  if (status < 0) {
    w->revents |= G_IO_ERR;
  } else {
    if (events & UV_READABLE) w->revents |= G_IO_IN;
    if (events & UV_WRITABLE) w->revents |= G_IO_OUT;
    if (events & UV_DISCONNECT) w->revents |= G_IO_HUP;
    if (events & UV_PRIORITIZED) w->revents |= G_IO_PRI;
  }
  uv_check_start(&check, [](uv_check_t* c) {
    uv_check_stop(c);
    Dispatch();
  });
}

void CloseWatch(Watch* w) {
  uv_poll_stop(&w->handle);
  uv_close(reinterpret_cast<uv_handle_t*>(&w->handle), [](uv_handle_t* h) { delete static_cast<Watch*>(h->data); });
}

void Arm() {
  if (!running) return;
  g_main_context_prepare(context, &maxPriority);
  gint timeout = -1;
  fds.resize(std::max<size_t>(fds.capacity(), 8));
  for (;;) {
    gint n = g_main_context_query(context, maxPriority, &timeout, fds.data(), static_cast<gint>(fds.size()));
    if (static_cast<size_t>(n) <= fds.size()) {
      fds.resize(n);
      break;
    }
    fds.resize(n);
  }
  prepared = true;

  std::map<int, int> wanted;  // fd → uv events
  for (const GPollFD& p : fds) {
    int ev = 0;
    if (p.events & (G_IO_IN | G_IO_HUP | G_IO_ERR)) ev |= UV_READABLE;
    if (p.events & G_IO_OUT) ev |= UV_WRITABLE;
    if (p.events & G_IO_PRI) ev |= UV_PRIORITIZED;
    wanted[p.fd] |= ev;
  }
  for (auto it = watches.begin(); it != watches.end();) {
    // Stopped even when still wanted: libpurple may have closed the fd and got the same number
    // back for another socket, and libuv would then modify a registration the kernel dropped.
    uv_poll_stop(&it->second->handle);
    if (wanted.count(it->first) == 0) {
      CloseWatch(it->second);
      it = watches.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& [fd, ev] : wanted) {
    Watch*& w = watches[fd];
    if (w == nullptr) {
      w = new Watch{};
      w->fd = fd;
      w->handle.data = w;
      if (uv_poll_init(loop, &w->handle, fd) != 0) {
        g_warning("purple_bridge: cannot watch fd %d", fd);
        delete w;
        watches.erase(fd);
        continue;
      }
    }
    uv_poll_start(&w->handle, ev | UV_DISCONNECT, OnPoll);
  }

  if (timeout < 0) {
    uv_timer_stop(&timer);
  } else {
    uv_timer_start(&timer, [](uv_timer_t*) { Dispatch(); }, static_cast<uint64_t>(timeout), 0);
  }
}

}  // namespace

void PumpStart(Napi::Env env) {
  napi_get_uv_event_loop(env, &loop);
  context = g_main_context_default();
  // Held for the bridge's lifetime: only this thread ever iterates the context.
  g_main_context_acquire(context);
  uv_timer_init(loop, &timer);
  uv_check_init(loop, &check);
  uv_unref(reinterpret_cast<uv_handle_t*>(&check));
  running = true;
  Arm();
}

void PumpWake() {
  if (running) g_main_context_wakeup(context);
}

void PumpStop() {
  if (!running) return;
  running = false;
  for (auto& [fd, w] : watches) CloseWatch(w);
  watches.clear();
  uv_timer_stop(&timer);
  uv_check_stop(&check);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&check), nullptr);
  g_main_context_release(context);
}

}  // namespace bridge
