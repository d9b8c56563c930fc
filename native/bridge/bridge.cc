// purple_bridge.node (stub until the bridge lands).
#include <napi.h>
static Napi::Object Init(Napi::Env env, Napi::Object exports) { return exports; }
NODE_API_MODULE(purple_bridge, Init)
