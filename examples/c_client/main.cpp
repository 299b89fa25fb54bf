// The same as main.c, in C++17: handles owned by std::unique_ptr, errors
// as exceptions, events dispatched with a switch.
//
//   cpp_client [PROMPT [OUT.png [API_URL API_KEY]]]

#include "horde.h"

#include <chrono>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

namespace {

struct ClientFree {
  void operator()(horde_client *c) const noexcept { horde_client_free(c); }
};
struct ServerFree {
  void operator()(horde_server *s) const noexcept { horde_server_free(s); }
};
using Client = std::unique_ptr<horde_client, ClientFree>;
using Server = std::unique_ptr<horde_server, ServerFree>;

void check(horde_status status, const char *what) {
  if (status == HORDE_STATUS_OK) {
    return;
  }
  std::string why(horde_last_error(nullptr, 0) + 1, '\0');
  horde_last_error(why.data(), why.size());
  why.resize(why.size() - 1);
  throw std::runtime_error(std::string(what) + ": " +
                           horde_status_str(static_cast<uint32_t>(status)) + " (" + why + ")");
}

int run(int argc, char **argv) {
  const std::string prompt = argc > 1 ? argv[1] : "a lighthouse on a cliff at dusk";
  const std::string out = argc > 2 ? argv[2] : "cpp_client.png";
  std::string url = argc > 4 ? argv[3] : "";
  std::string key = argc > 4 ? argv[4] : "";

  Server server;
  if (url.empty()) {
    horde_server_config sc;
    check(horde_server_config_init(&sc), "configuring the private horde");
    horde_server *raw = nullptr;
    check(horde_server_start(&sc, &raw), "starting the private horde");
    server.reset(raw);
    char buf[HORDE_API_KEY_BUF];
    check(horde_server_add_user(server.get(), "player", 100.0, true, buf, sizeof buf),
          "registering the player");
    url = horde_server_api_url(server.get());
    key = buf;
    std::printf("a private horde serves at %s\n", url.c_str());
  }

  horde_config config;
  check(horde_config_init(&config), "configuring the client");
  config.base_url = url.c_str();
  config.api_key = key.c_str();
  config.client_agent = "libhorde-cpp-example:0.1:https://github.com/horde-rs";
  horde_client *raw = nullptr;
  check(horde_client_new(&config, &raw), "creating the client");
  Client client(raw); // declared after the server: freed before it

  horde_image_request request;
  check(horde_image_request_init(&request), "preparing the request");
  request.prompt = prompt.c_str();
  if (server) {
    horde_worker_config worker;
    check(horde_worker_config_init(&worker), "configuring the worker");
    worker.name = "cpp-example-painter";
    worker.backend = "kind = \"procedural\"";
    worker.start_idle = true;
    check(horde_client_start_worker(client.get(), &worker), "starting the worker");
    request.model = "horde-rs/procedural";
  }
  uint64_t id = HORDE_NO_REQUEST;
  check(horde_client_generate_image(client.get(), &request, &id), "requesting the image");

  for (;;) {
    horde_event ev;
    horde_event_init(&ev);
    check(horde_client_poll_event(client.get(), &ev), "polling");
    switch (ev.kind) {
    case HORDE_EVENT_NONE:
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      break;
    case HORDE_EVENT_IMAGE:
      check(horde_write_png(out.c_str(), ev.rgba, ev.width, ev.height), "writing the PNG");
      std::printf("%s: %ux%u by %s\n", out.c_str(), ev.width, ev.height, ev.worker);
      break;
    case HORDE_EVENT_COMPLETED:
      return 0;
    case HORDE_EVENT_FAILED:
      std::fprintf(stderr, "the request failed: %s: %s\n", ev.rc, ev.message);
      return 1;
    case HORDE_EVENT_CANCELLED:
      return 1;
    default:
      break;
    }
  }
}

} // namespace

int main(int argc, char **argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception &e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
