/* Generates one image with libhorde and writes it as a PNG.
 *
 *   c_client [PROMPT [OUT.png [API_URL API_KEY]]]
 *
 * Without API_URL the program hosts a private horde in-process (an
 * embedded coordinator on a temporary directory), registers a player, and
 * lends this machine to it with libhorde's built-in procedural painter, so
 * it runs anywhere with nothing else installed. With API_URL and API_KEY
 * (such as https://aihorde.net/api and 0000000000) it asks that horde. */

#include "horde.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static int fail(const char *what, horde_status status) {
  char why[512];
  horde_last_error(why, sizeof why);
  fprintf(stderr, "%s: %s (%s)\n", what, horde_status_str((uint32_t)status), why);
  return 1;
}

static void nap(void) {
  struct timespec ts = {0, 20 * 1000 * 1000};
  nanosleep(&ts, NULL);
}

int main(int argc, char **argv) {
  const char *prompt = argc > 1 ? argv[1] : "a lighthouse on a cliff at dusk";
  const char *out = argc > 2 ? argv[2] : "c_client.png";
  const char *url = argc > 4 ? argv[3] : NULL;
  const char *key = argc > 4 ? argv[4] : NULL;
  char player_key[HORDE_API_KEY_BUF];
  horde_server *server = NULL;
  horde_client *client = NULL;
  horde_config config;
  horde_image_request request;
  uint64_t id = 0;
  int done = 0, status = 1;
  horde_status s;

  printf("libhorde %s (ABI %u)\n", horde_version(), horde_abi_version());
  if (url == NULL) {
    horde_server_config server_config;
    horde_server_config_init(&server_config);
    if ((s = horde_server_start(&server_config, &server)) != HORDE_STATUS_OK) {
      return fail("starting the private horde", s);
    }
    s = horde_server_add_user(server, "player", 100.0, true, player_key, sizeof player_key);
    if (s != HORDE_STATUS_OK) {
      horde_server_free(server);
      return fail("registering the player", s);
    }
    url = horde_server_api_url(server);
    key = player_key;
    printf("a private horde serves at %s\n", url);
  }

  horde_config_init(&config);
  config.base_url = url;
  config.api_key = key;
  config.client_agent = "libhorde-c-example:0.1:https://github.com/horde-rs";
  if ((s = horde_client_new(&config, &client)) != HORDE_STATUS_OK) {
    horde_server_free(server);
    return fail("creating the client", s);
  }

  horde_image_request_init(&request);
  request.prompt = prompt;
  request.width = 512;
  request.height = 512;
  if (server != NULL) {
    /* our own GPU, lent to our own horde while we wait */
    horde_worker_config worker;
    horde_worker_config_init(&worker);
    worker.name = "c-example-painter";
    worker.backend = "kind = \"procedural\"";
    worker.start_idle = true;
    if ((s = horde_client_start_worker(client, &worker)) != HORDE_STATUS_OK) {
      fail("starting the worker", s);
      goto end;
    }
    request.model = "horde-rs/procedural";
  }
  if ((s = horde_client_generate_image(client, &request, &id)) != HORDE_STATUS_OK) {
    fail("requesting the image", s);
    goto end;
  }

  while (!done) {
    horde_event ev;
    horde_event_init(&ev);
    if ((s = horde_client_poll_event(client, &ev)) != HORDE_STATUS_OK) {
      fail("polling", s);
      break;
    }
    switch (ev.kind) {
    case HORDE_EVENT_NONE:
      nap(); /* a game would render a frame here */
      break;
    case HORDE_EVENT_QUEUED:
      printf("queued: position %u, about %lld s\n", ev.position, (long long)ev.wait_time);
      break;
    case HORDE_EVENT_IMAGE:
      /* ev.rgba stays valid until the next poll: use or copy it now */
      s = horde_write_png(out, ev.rgba, ev.width, ev.height);
      if (s != HORDE_STATUS_OK) {
        fail("writing the PNG", s);
        done = 1;
        break;
      }
      printf("%s: %ux%u by %s (model %s, seed %s)\n", out, ev.width, ev.height, ev.worker,
             ev.model, ev.seed);
      status = 0;
      break;
    case HORDE_EVENT_COMPLETED:
      done = 1;
      break;
    case HORDE_EVENT_FAILED:
      fprintf(stderr, "the request failed: %s: %s\n", ev.rc, ev.message);
      status = 1;
      done = 1;
      break;
    case HORDE_EVENT_CANCELLED:
      done = 1;
      break;
    default:
      break;
    }
  }

end:
  horde_client_free(client); /* stops the worker, cancels what is left */
  horde_server_free(server);
  return status;
}
