/* libhorde's C tests, one case per run: `api_test CASE [API_URL API_KEY]`.
 * Built by ffi/tests/c_api.rs with -std=c99 -Wall -Wextra -Wpedantic
 * -Werror, once with ASan/UBSan and once for valgrind, and run against the
 * coordinator and workers that test starts. Exit status 0 is a pass. */

#include "horde.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int failures = 0;

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      char why_[512];                                                          \
      horde_last_error(why_, sizeof why_);                                     \
      fprintf(stderr, "%s:%d: CHECK(%s) failed (last error: %s)\n", __FILE__,  \
              __LINE__, #cond, why_);                                          \
      failures++;                                                              \
    }                                                                          \
  } while (0)

#define CHECK_STATUS(call, expected)                                           \
  do {                                                                         \
    horde_status got_ = (call);                                                \
    if (got_ != (expected)) {                                                  \
      char why_[512];                                                          \
      horde_last_error(why_, sizeof why_);                                     \
      fprintf(stderr, "%s:%d: %s answered %d (%s), expected %d; %s\n",         \
              __FILE__, __LINE__, #call, (int)got_,                            \
              horde_status_str((uint32_t)got_), (int)(expected), why_);        \
      failures++;                                                              \
    }                                                                          \
  } while (0)

static const char *AGENT = "libhorde-c-tests:0.1:https://example.invalid";

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void nap(void) {
  struct timespec ts = {0, 5 * 1000 * 1000};
  nanosleep(&ts, NULL);
}

static horde_client *connect_to(const char *url, const char *key) {
  horde_config config;
  horde_client *client = NULL;
  CHECK_STATUS(horde_config_init(&config), HORDE_STATUS_OK);
  config.base_url = url;
  config.api_key = key;
  config.client_agent = AGENT;
  config.request_timeout_ms = 120 * 1000;
  CHECK_STATUS(horde_client_new(&config, &client), HORDE_STATUS_OK);
  return client;
}

/* Polls until `id` ends (completed, failed or cancelled) or 120 s pass;
 * answers the final kind and copies what the caller wants to look at. */
typedef struct {
  int images;
  int texts;
  int forms;
  int queued;
  uint32_t width, height;
  size_t rgba_len;
  uint32_t first_pixel;
  char text[256];
  char worker[128];
  char rc[128];
  horde_status status;
  double kudos;
  int retries;
  int connection_retrying;
  int connection_unreachable;
} seen_t;

/* Where wait_for writes the images it sees, when set. */
static const char *png_path = NULL;

static horde_event_kind wait_for(horde_client *client, uint64_t id, seen_t *seen) {
  double start = now_seconds();
  memset(seen, 0, sizeof *seen);
  while (now_seconds() - start < 120.0) {
    horde_event ev;
    horde_event_init(&ev);
    CHECK_STATUS(horde_client_poll_event(client, &ev), HORDE_STATUS_OK);
    if (ev.kind == HORDE_EVENT_NONE) {
      nap();
      continue;
    }
    if (getenv("HORDE_TEST_VERBOSE") != NULL) {
      fprintf(stderr, "event %d for %llu (waiting for %llu): %s %s\n", (int)ev.kind,
              (unsigned long long)ev.id, (unsigned long long)id, ev.rc, ev.message);
    }
    if (ev.kind == HORDE_EVENT_CONNECTION) {
      CHECK(ev.id == 0);
      if (strcmp(ev.rc, "Retrying") == 0) {
        CHECK(ev.status == HORDE_STATUS_NETWORK && strlen(ev.message) > 0);
        seen->connection_retrying++;
      } else if (strcmp(ev.rc, "Unreachable") == 0) {
        CHECK(ev.status == HORDE_STATUS_NETWORK && strlen(ev.message) > 0);
        seen->connection_unreachable++;
      } else {
        CHECK(strcmp(ev.rc, "Reachable") == 0 && ev.status == HORDE_STATUS_OK);
      }
      continue;
    }
    if (ev.id != id || ev.kind == HORDE_EVENT_WORKER || ev.kind == HORDE_EVENT_WORKER_JOB) {
      continue;
    }
    switch (ev.kind) {
    case HORDE_EVENT_QUEUED:
      seen->queued++;
      break;
    case HORDE_EVENT_RETRYING:
      seen->retries++;
      CHECK(ev.status == HORDE_STATUS_NETWORK || ev.status == HORDE_STATUS_RATE_LIMITED);
      CHECK(strlen(ev.message) > 0 && strstr(ev.json, "retry_in") != NULL);
      break;
    case HORDE_EVENT_IMAGE:
      seen->images++;
      seen->width = ev.width;
      seen->height = ev.height;
      seen->rgba_len = ev.rgba_len;
      CHECK(ev.rgba != NULL);
      if (ev.rgba != NULL && ev.rgba_len >= 4) {
        memcpy(&seen->first_pixel, ev.rgba, 4);
      }
      snprintf(seen->worker, sizeof seen->worker, "%s", ev.worker);
      CHECK(strlen(ev.seed) > 0);
      if (png_path != NULL) {
        CHECK_STATUS(horde_write_png(png_path, ev.rgba, ev.width, ev.height), HORDE_STATUS_OK);
      }
      break;
    case HORDE_EVENT_TEXT:
      seen->texts++;
      CHECK(strlen(ev.text) == ev.text_len);
      snprintf(seen->text, sizeof seen->text, "%s", ev.text);
      snprintf(seen->worker, sizeof seen->worker, "%s", ev.worker);
      break;
    case HORDE_EVENT_INTERROGATION:
      seen->forms++;
      snprintf(seen->text, sizeof seen->text, "%s", ev.json);
      break;
    case HORDE_EVENT_ESTIMATED:
      seen->kudos = ev.kudos;
      return ev.kind;
    case HORDE_EVENT_MODELS:
    case HORDE_EVENT_USER:
      seen->kudos = ev.kudos;
      snprintf(seen->text, sizeof seen->text, "%s", ev.json);
      return ev.kind;
    case HORDE_EVENT_FAILED:
      seen->status = ev.status;
      snprintf(seen->rc, sizeof seen->rc, "%s", ev.rc);
      snprintf(seen->text, sizeof seen->text, "%s", ev.message);
      return ev.kind;
    case HORDE_EVENT_COMPLETED:
    case HORDE_EVENT_CANCELLED:
      return ev.kind;
    default:
      break;
    }
  }
  fprintf(stderr, "request %llu did not end within 120 s\n", (unsigned long long)id);
  failures++;
  return HORDE_EVENT_NONE;
}

/* --- abi: versions, statuses and enum values as the header promises --- */
static void case_abi(void) {
  char expected[64];
  CHECK(horde_abi_version() == HORDE_ABI_VERSION);
  CHECK(HORDE_ABI_VERSION == 2); /* 2: horde_event starts with struct_size */
  CHECK(offsetof(horde_event, struct_size) == 0);
  snprintf(expected, sizeof expected, "%d.%d.%d", HORDE_VERSION_MAJOR, HORDE_VERSION_MINOR,
           HORDE_VERSION_PATCH);
  CHECK(strcmp(horde_version(), expected) == 0);
  CHECK(HORDE_STATUS_OK == 0 && HORDE_STATUS_NULL_PARAM == 1 && HORDE_STATUS_INVALID_ARG == 2 &&
        HORDE_STATUS_INVALID_UTF8 == 3 && HORDE_STATUS_STRUCT_SIZE == 4 &&
        HORDE_STATUS_NOT_FOUND == 5 && HORDE_STATUS_BUSY == 6 && HORDE_STATUS_NETWORK == 7 &&
        HORDE_STATUS_TIMEOUT == 8 && HORDE_STATUS_RATE_LIMITED == 9 && HORDE_STATUS_API == 10 &&
        HORDE_STATUS_DECODE == 11 && HORDE_STATUS_FAULTED == 12 && HORDE_STATUS_SHUT_DOWN == 13 &&
        HORDE_STATUS_IO == 14 && HORDE_STATUS_UNSUPPORTED == 15 && HORDE_STATUS_PANIC == 16 &&
        HORDE_STATUS_INVALID_HANDLE == 17);
  CHECK(HORDE_EVENT_NONE == 0 && HORDE_EVENT_QUEUED == 1 && HORDE_EVENT_PROGRESS == 2 &&
        HORDE_EVENT_IMAGE == 3 && HORDE_EVENT_TEXT == 4 && HORDE_EVENT_INTERROGATION == 5 &&
        HORDE_EVENT_COMPLETED == 6 && HORDE_EVENT_FAILED == 7 && HORDE_EVENT_CANCELLED == 8 &&
        HORDE_EVENT_ESTIMATED == 9 && HORDE_EVENT_MODELS == 10 && HORDE_EVENT_WORKER == 11 &&
        HORDE_EVENT_WORKER_JOB == 12 && HORDE_EVENT_USER == 13);
  CHECK(HORDE_WORKER_NONE == 0 && HORDE_WORKER_STARTED == 1 && HORDE_WORKER_JOB_RECEIVED == 2 &&
        HORDE_WORKER_JOB_FINISHED == 3 && HORDE_WORKER_KUDOS_EARNED == 4 &&
        HORDE_WORKER_NOTHING_TO_DO == 5 && HORDE_WORKER_MAINTENANCE == 6 &&
        HORDE_WORKER_OFFERING == 7 && HORDE_WORKER_ERROR == 8 && HORDE_WORKER_STOPPED == 9);
  CHECK(HORDE_WORK_NONE == 0 && HORDE_WORK_IMAGE == 1 && HORDE_WORK_TEXT == 2 &&
        HORDE_WORK_ALCHEMY == 3);
  CHECK(HORDE_REQUEST_IMAGE == 1 && HORDE_REQUEST_TEXT == 2 && HORDE_REQUEST_INTERROGATION == 3);
  CHECK(HORDE_RATE_LIMITS_LOOPBACK_FREE == 0 && HORDE_RATE_LIMITS_EVERYONE == 1 &&
        HORDE_RATE_LIMITS_OFF == 2);
  CHECK(strcmp(horde_status_str(HORDE_STATUS_OK), "ok") == 0);
  CHECK(strcmp(horde_status_str(9999), "unknown status") == 0);
  CHECK(sizeof(horde_status) == sizeof(int));
}

/* A refusal before anything is sent: INVALID_ARG, naming `field`. */
static void expect_refused(horde_status status, const char *field) {
  char why[512];
  CHECK_STATUS(status, HORDE_STATUS_INVALID_ARG);
  horde_last_error(why, sizeof why);
  if (strstr(why, field) == NULL) {
    fprintf(stderr, "the refusal does not name %s: %s\n", field, why);
    failures++;
  }
}

/* Lent pixels given back by libhorde (from one of its threads). */
static int released_buffers;

static void release_pixels(void *buffer) {
  free(buffer);
  __atomic_fetch_add(&released_buffers, 1, __ATOMIC_SEQ_CST);
}

/* --- misuse: every mistake answers a status, never a crash --- */
static void case_misuse(const char *url, const char *key) {
  horde_config config;
  horde_client *client = NULL;
  horde_image_request image;
  horde_text_request text;
  horde_worker_config worker;
  horde_server_config server_config;
  horde_event ev;
  horde_event_init(&ev);
  uint64_t id = 0;
  bool pending = true;
  char buf[8];
  const char bad_utf8[] = {'a', (char)0xff, 'b', 0};
  const char *forms[] = {"caption"};
  const char *bad_forms[] = {NULL};
  const uint8_t png_magic[] = {0x89, 'P', 'N', 'G'};
  static const uint8_t pixels[64 * 64 * 4];
  horde_image_view view = {pixels, 64, 64};
  char key_buf[HORDE_API_KEY_BUF];

  /* NULL for every pointer parameter */
  CHECK_STATUS(horde_config_init(NULL), HORDE_STATUS_NULL_PARAM);
  CHECK_STATUS(horde_image_request_init(NULL), HORDE_STATUS_NULL_PARAM);
  CHECK_STATUS(horde_text_request_init(NULL), HORDE_STATUS_NULL_PARAM);
  CHECK_STATUS(horde_worker_config_init(NULL), HORDE_STATUS_NULL_PARAM);
  CHECK_STATUS(horde_server_config_init(NULL), HORDE_STATUS_NULL_PARAM);
  CHECK_STATUS(horde_client_new(NULL, &client), HORDE_STATUS_NULL_PARAM);
  horde_config_init(&config);
  horde_image_request_init(&image);
  horde_text_request_init(&text);
  horde_worker_config_init(&worker);
  CHECK_STATUS(horde_client_new(&config, &client), HORDE_STATUS_NULL_PARAM); /* no agent */
  config.client_agent = AGENT;
  CHECK_STATUS(horde_client_new(&config, NULL), HORDE_STATUS_NULL_PARAM);
  CHECK(client == NULL);
  CHECK(horde_last_error(buf, sizeof buf) > 0);
  CHECK(strlen(buf) == sizeof buf - 1); /* truncated, NUL-terminated */
  CHECK(horde_last_error(NULL, 0) > sizeof buf);
  CHECK_STATUS(horde_client_poll_event(NULL, &ev), HORDE_STATUS_NULL_PARAM);
  CHECK_STATUS(horde_client_cancel(NULL, 1), HORDE_STATUS_NULL_PARAM);
  CHECK_STATUS(horde_client_cancel_all(NULL), HORDE_STATUS_NULL_PARAM);
  CHECK_STATUS(horde_client_is_pending(NULL, 1, &pending), HORDE_STATUS_NULL_PARAM);
  CHECK_STATUS(horde_client_generate_image(NULL, &image, &id), HORDE_STATUS_NULL_PARAM);
  CHECK_STATUS(horde_client_generate_text(NULL, &text, &id), HORDE_STATUS_NULL_PARAM);
  CHECK_STATUS(horde_client_set_idle(NULL, true), HORDE_STATUS_NULL_PARAM);
  CHECK_STATUS(horde_client_take_gpu_back(NULL), HORDE_STATUS_NULL_PARAM);
  CHECK_STATUS(horde_client_stop_workers(NULL), HORDE_STATUS_NULL_PARAM);
  CHECK_STATUS(horde_client_start_worker(NULL, &worker), HORDE_STATUS_NULL_PARAM);
  CHECK_STATUS(horde_client_submit_job_text(NULL, 1, "x"), HORDE_STATUS_NULL_PARAM);
  CHECK_STATUS(horde_client_fail_job(NULL, 1, "x"), HORDE_STATUS_NULL_PARAM);
  CHECK_STATUS(horde_client_submit_job_images(NULL, 1, &view, 1), HORDE_STATUS_NULL_PARAM);
  CHECK_STATUS(horde_client_submit_job_form(NULL, 1, "\"x\""), HORDE_STATUS_NULL_PARAM);
  CHECK_STATUS(horde_client_submit_job_form_image(NULL, 1, &view), HORDE_STATUS_NULL_PARAM);
  CHECK_STATUS(horde_client_interrogate(NULL, png_magic, 4, forms, 1, &id),
               HORDE_STATUS_NULL_PARAM);
  CHECK_STATUS(horde_client_submit_json(NULL, HORDE_REQUEST_IMAGE, "{}", &id),
               HORDE_STATUS_NULL_PARAM);
  CHECK_STATUS(horde_client_estimate_image(NULL, &image, &id), HORDE_STATUS_NULL_PARAM);
  CHECK_STATUS(horde_client_fetch_models(NULL, HORDE_REQUEST_IMAGE, &id),
               HORDE_STATUS_NULL_PARAM);
  CHECK_STATUS(horde_client_fetch_user(NULL, &id), HORDE_STATUS_NULL_PARAM);
  CHECK_STATUS(horde_server_start(NULL, NULL), HORDE_STATUS_NULL_PARAM);
  horde_server_config_init(&server_config);
  CHECK_STATUS(horde_server_start(&server_config, NULL), HORDE_STATUS_NULL_PARAM);
  CHECK_STATUS(horde_server_add_user(NULL, "a", 1.0, false, key_buf, sizeof key_buf),
               HORDE_STATUS_NULL_PARAM);
  CHECK(horde_server_api_url(NULL) == NULL);
  CHECK_STATUS(horde_write_png(NULL, png_magic, 1, 1), HORDE_STATUS_NULL_PARAM);
  CHECK_STATUS(horde_write_png("/tmp/x.png", NULL, 1, 1), HORDE_STATUS_NULL_PARAM);

  /* free of NULL is a no-op */
  horde_client_free(NULL);
  horde_server_free(NULL);

  /* invalid UTF-8 and out-of-range values */
  config.client_agent = bad_utf8;
  CHECK_STATUS(horde_client_new(&config, &client), HORDE_STATUS_INVALID_UTF8);
  config.client_agent = AGENT;
  config.base_url = "ftp://example.invalid";
  CHECK_STATUS(horde_client_new(&config, &client), HORDE_STATUS_INVALID_ARG);
  config.base_url = url;
  config.api_key = key;

  /* wrong struct_size */
  config.struct_size = 3;
  CHECK_STATUS(horde_client_new(&config, &client), HORDE_STATUS_STRUCT_SIZE);
  config.struct_size = sizeof config + 64;
  CHECK_STATUS(horde_client_new(&config, &client), HORDE_STATUS_STRUCT_SIZE);
  config.struct_size = sizeof config;
  CHECK_STATUS(horde_client_new(&config, &client), HORDE_STATUS_OK);
  CHECK(client != NULL);
  if (client == NULL) {
    return;
  }

  CHECK_STATUS(horde_client_poll_event(client, NULL), HORDE_STATUS_NULL_PARAM);
  CHECK_STATUS(horde_client_generate_image(client, NULL, &id), HORDE_STATUS_NULL_PARAM);
  horde_image_request_init(&image);
  CHECK_STATUS(horde_client_generate_image(client, &image, &id), HORDE_STATUS_NULL_PARAM);
  image.prompt = "a lighthouse";
  CHECK_STATUS(horde_client_generate_image(client, &image, NULL), HORDE_STATUS_NULL_PARAM);
  image.struct_size = 0;
  CHECK_STATUS(horde_client_generate_image(client, &image, &id), HORDE_STATUS_STRUCT_SIZE);
  image.struct_size = sizeof image;
  image.prompt = bad_utf8;
  CHECK_STATUS(horde_client_generate_image(client, &image, &id), HORDE_STATUS_INVALID_UTF8);
  image.prompt = "   ";
  CHECK_STATUS(horde_client_generate_image(client, &image, &id), HORDE_STATUS_INVALID_ARG);
  image.prompt = "a lighthouse";
  image.width = 65;
  CHECK_STATUS(horde_client_generate_image(client, &image, &id), HORDE_STATUS_INVALID_ARG);
  image.width = 64;
  image.count = 99;
  CHECK_STATUS(horde_client_generate_image(client, &image, &id), HORDE_STATUS_INVALID_ARG);
  image.count = 1;
  image.cfg_scale = -3.0;
  CHECK_STATUS(horde_client_generate_image(client, &image, &id), HORDE_STATUS_INVALID_ARG);
  image.cfg_scale = 0.0;
  image.sampler = "k_imaginary";
  expect_refused(horde_client_generate_image(client, &image, &id), "params.sampler_name");
  image.sampler = NULL;
  image.negative_prompt = bad_utf8;
  CHECK_STATUS(horde_client_generate_image(client, &image, &id), HORDE_STATUS_INVALID_UTF8);
  CHECK(id == 0); /* outputs untouched on failure */

  horde_text_request_init(&text);
  text.prompt = "Once";
  text.max_length = 5;
  CHECK_STATUS(horde_client_generate_text(client, &text, &id), HORDE_STATUS_INVALID_ARG);
  text.max_length = 0;
  text.temperature = 99.0;
  CHECK_STATUS(horde_client_generate_text(client, &text, &id), HORDE_STATUS_INVALID_ARG);
  text.temperature = nan("");
  expect_refused(horde_client_generate_text(client, &text, &id), "temperature");
  text.temperature = -1.0;
  text.max_length = 2048; /* upstream's range reaches 4096, within the context */
  text.max_context_length = 1024;
  expect_refused(horde_client_generate_text(client, &text, &id), "params.max_length");
  text.max_length = 0;
  text.max_context_length = 0;
  {
    const char *telepathy[] = {"telepathy"};
    expect_refused(horde_client_interrogate(client, png_magic, 4, telepathy, 1, &id),
                   "forms.0.name");
  }

  CHECK_STATUS(horde_client_submit_json(client, HORDE_REQUEST_IMAGE, "{not json", &id),
               HORDE_STATUS_INVALID_ARG);
  CHECK_STATUS(horde_client_submit_json(client, 42, "{\"prompt\": \"x\"}", &id),
               HORDE_STATUS_INVALID_ARG);
  CHECK_STATUS(horde_client_submit_json(client, HORDE_REQUEST_TEXT, NULL, &id),
               HORDE_STATUS_NULL_PARAM);
  CHECK_STATUS(horde_client_fetch_models(client, 7, &id), HORDE_STATUS_INVALID_ARG);
  CHECK_STATUS(horde_client_interrogate(client, NULL, 10, forms, 1, &id), HORDE_STATUS_NULL_PARAM);
  CHECK_STATUS(horde_client_interrogate(client, png_magic, 4, NULL, 1, &id),
               HORDE_STATUS_NULL_PARAM);
  CHECK_STATUS(horde_client_interrogate(client, png_magic, 4, forms, 0, &id),
               HORDE_STATUS_INVALID_ARG);
  CHECK_STATUS(horde_client_interrogate(client, png_magic, 4, bad_forms, 1, &id),
               HORDE_STATUS_NULL_PARAM);
  CHECK_STATUS(horde_client_interrogate(client, png_magic, 4, forms, 1, NULL),
               HORDE_STATUS_NULL_PARAM);
  CHECK_STATUS(horde_client_submit_json(client, HORDE_REQUEST_IMAGE, "{}", NULL),
               HORDE_STATUS_NULL_PARAM);
  CHECK_STATUS(horde_client_estimate_image(client, NULL, &id), HORDE_STATUS_NULL_PARAM);
  CHECK_STATUS(horde_client_estimate_image(client, &image, NULL), HORDE_STATUS_NULL_PARAM);
  CHECK_STATUS(horde_client_fetch_models(client, HORDE_REQUEST_IMAGE, NULL),
               HORDE_STATUS_NULL_PARAM);
  CHECK_STATUS(horde_client_fetch_user(client, NULL), HORDE_STATUS_NULL_PARAM);
  CHECK_STATUS(horde_client_submit_job_images(client, 777, NULL, 1), HORDE_STATUS_NULL_PARAM);
  view.rgba = NULL;
  CHECK_STATUS(horde_client_submit_job_images(client, 777, &view, 1), HORDE_STATUS_NULL_PARAM);
  view.rgba = pixels;
  CHECK_STATUS(horde_client_submit_job_text(client, 777, NULL), HORDE_STATUS_NULL_PARAM);
  CHECK_STATUS(horde_client_submit_job_form(client, 777, NULL), HORDE_STATUS_NULL_PARAM);
  CHECK_STATUS(horde_client_submit_job_form_image(client, 777, NULL), HORDE_STATUS_NULL_PARAM);
  CHECK(id == 0);

  /* unknown ids and tickets */
  CHECK_STATUS(horde_client_cancel(client, 12345), HORDE_STATUS_NOT_FOUND);
  CHECK_STATUS(horde_client_cancel(client, HORDE_NO_REQUEST), HORDE_STATUS_NOT_FOUND);
  CHECK_STATUS(horde_client_is_pending(client, 12345, &pending), HORDE_STATUS_OK);
  CHECK(!pending);
  CHECK_STATUS(horde_client_is_pending(client, 1, NULL), HORDE_STATUS_NULL_PARAM);
  CHECK_STATUS(horde_client_submit_job_text(client, 777, "x"), HORDE_STATUS_NOT_FOUND);
  CHECK_STATUS(horde_client_submit_job_images(client, 777, &view, 1), HORDE_STATUS_NOT_FOUND);
  CHECK_STATUS(horde_client_submit_job_form(client, 777, "\"x\""), HORDE_STATUS_NOT_FOUND);
  CHECK_STATUS(horde_client_submit_job_form_image(client, 777, &view), HORDE_STATUS_NOT_FOUND);
  CHECK_STATUS(horde_client_fail_job(client, 777, NULL), HORDE_STATUS_NOT_FOUND);

  /* worker configurations */
  CHECK_STATUS(horde_client_start_worker(client, NULL), HORDE_STATUS_NULL_PARAM);
  horde_worker_config_init(&worker);
  CHECK_STATUS(horde_client_start_worker(client, &worker), HORDE_STATUS_NULL_PARAM); /* name */
  worker.name = "c-misuse";
  worker.kind = 9;
  CHECK_STATUS(horde_client_start_worker(client, &worker), HORDE_STATUS_INVALID_ARG);
  worker.kind = HORDE_WORK_TEXT;
  CHECK_STATUS(horde_client_start_worker(client, &worker), HORDE_STATUS_INVALID_ARG); /* models */
  worker.backend = "kind = \"no-such-backend\"";
  CHECK_STATUS(horde_client_start_worker(client, &worker), HORDE_STATUS_INVALID_ARG);
  worker.backend = "kind = \"procedural\"";
  worker.models = bad_forms;
  worker.models_len = 1;
  CHECK_STATUS(horde_client_start_worker(client, &worker), HORDE_STATUS_NULL_PARAM);
  worker.models_len = 0;
  worker.struct_size = 1;
  CHECK_STATUS(horde_client_start_worker(client, &worker), HORDE_STATUS_STRUCT_SIZE);

  /* server configurations */
  horde_server_config_init(&server_config);
  server_config.listen = "not an address";
  {
    horde_server *server = NULL;
    CHECK_STATUS(horde_server_start(&server_config, &server), HORDE_STATUS_INVALID_ARG);
    CHECK(server == NULL);
    horde_server_config_init(&server_config);
    server_config.rate_limits = 3;
    CHECK_STATUS(horde_server_start(&server_config, &server), HORDE_STATUS_INVALID_ARG);
    CHECK(server == NULL);
    {
      char why[256];
      horde_last_error(why, sizeof why);
      CHECK(strstr(why, "rate_limits") != NULL);
    }
    /* a caller built against the older, shorter struct still starts one */
    horde_server_config_init(&server_config);
    server_config.struct_size = offsetof(horde_server_config, rate_limits);
    CHECK_STATUS(horde_server_start(&server_config, &server), HORDE_STATUS_OK);
    horde_server_free(server);
    /* freed twice, or used once freed: refused, nothing read or freed */
    horde_server_free(server);
    {
      char why[256];
      horde_last_error(why, sizeof why);
      CHECK(strstr(why, "not a live handle") != NULL);
    }
    CHECK(horde_server_api_url(server) == NULL);
  }
  CHECK_STATUS(horde_write_png("/tmp/x.png", png_magic, 0, 1), HORDE_STATUS_INVALID_ARG);

  /* an event without its struct_size is refused and left untouched */
  {
    horde_event unset;
    memset(&unset, 0, sizeof unset);
    unset.kind = HORDE_EVENT_TEXT;
    CHECK_STATUS(horde_client_poll_event(client, &unset), HORDE_STATUS_STRUCT_SIZE);
    CHECK(unset.kind == HORDE_EVENT_TEXT && unset.struct_size == 0);
    {
      char why[256];
      horde_last_error(why, sizeof why);
      CHECK(strstr(why, "horde_event_init") != NULL);
    }
    CHECK_STATUS(horde_event_init(NULL), HORDE_STATUS_NULL_PARAM);
  }
  /* a caller built against a newer, longer horde_event: its extra bytes
     are left alone and struct_size says what was written */
  {
    struct {
      horde_event ev;
      uint64_t newer_field;
    } longer;
    horde_event_init(&longer.ev);
    longer.ev.struct_size = sizeof longer;
    longer.newer_field = 0x5eed;
    CHECK_STATUS(horde_client_poll_event(client, &longer.ev), HORDE_STATUS_OK);
    CHECK(longer.ev.struct_size == sizeof(horde_event));
    CHECK(longer.newer_field == 0x5eed);
  }
  /* nothing above queued anything */
  CHECK_STATUS(horde_client_poll_event(client, &ev), HORDE_STATUS_OK);
  CHECK(ev.struct_size == sizeof(horde_event));
  CHECK(ev.kind == HORDE_EVENT_NONE || ev.kind == HORDE_EVENT_WORKER);
  CHECK(ev.text != NULL && ev.json != NULL && ev.rc != NULL);
  horde_client_free(client);
  /* a double free is refused (a debug aid: no crash, no second free) */
  horde_client_free(client);
  {
    char why[256];
    horde_last_error(why, sizeof why);
    CHECK(strstr(why, "not a live handle") != NULL);
  }
  CHECK_STATUS(horde_client_poll_event(client, &ev), HORDE_STATUS_INVALID_HANDLE);
  CHECK_STATUS(horde_client_cancel(client, 1), HORDE_STATUS_INVALID_HANDLE);
  {
    /* a pointer libhorde never made */
    horde_client *forged = (horde_client *)&ev;
    CHECK_STATUS(horde_client_set_idle(forged, true), HORDE_STATUS_INVALID_HANDLE);
  }
}

/* --- image: one request, decoded pixels, a PNG on disk --- */
static void case_image(const char *url, const char *key, const char *png) {
  horde_client *client = connect_to(url, key);
  horde_image_request req;
  uint64_t id = 0, estimate = 0;
  seen_t seen;
  bool pending = false;
  if (client == NULL) {
    return;
  }
  horde_image_request_init(&req);
  req.prompt = "a lighthouse at dusk";
  req.negative_prompt = "fog";
  req.model = "horde-rs/procedural";
  req.width = 128;
  req.height = 64;
  req.steps = 10;
  req.seed = "42";
  CHECK_STATUS(horde_client_estimate_image(client, &req, &estimate), HORDE_STATUS_OK);
  CHECK(wait_for(client, estimate, &seen) == HORDE_EVENT_ESTIMATED);
  CHECK(seen.kudos > 0.0);
  png_path = png;
  CHECK_STATUS(horde_client_generate_image(client, &req, &id), HORDE_STATUS_OK);
  CHECK(id != HORDE_NO_REQUEST && id != estimate);
  CHECK_STATUS(horde_client_is_pending(client, id, &pending), HORDE_STATUS_OK);
  CHECK(pending);
  CHECK(wait_for(client, id, &seen) == HORDE_EVENT_COMPLETED);
  CHECK(seen.images == 1);
  CHECK(seen.width == 128 && seen.height == 64);
  CHECK(seen.rgba_len == (size_t)128 * 64 * 4);
  CHECK(strcmp(seen.worker, "rust-dreamer") == 0);
  CHECK_STATUS(horde_client_is_pending(client, id, &pending), HORDE_STATUS_OK);
  CHECK(!pending);
  CHECK_STATUS(horde_client_cancel(client, id), HORDE_STATUS_NOT_FOUND); /* it ended */
  horde_client_free(client);
}

/* --- text, and the model list --- */
static void case_text(const char *url, const char *key) {
  horde_client *client = connect_to(url, key);
  horde_text_request req;
  uint64_t id = 0, models = 0;
  seen_t seen;
  if (client == NULL) {
    return;
  }
  horde_text_request_init(&req);
  req.prompt = "Once upon a time";
  req.model = "test/echo";
  req.max_length = 32;
  req.temperature = 0.5;
  CHECK_STATUS(horde_client_generate_text(client, &req, &id), HORDE_STATUS_OK);
  CHECK(wait_for(client, id, &seen) == HORDE_EVENT_COMPLETED);
  CHECK(seen.texts == 1);
  CHECK(strcmp(seen.text, "echo: Once upon a time") == 0);
  CHECK(strcmp(seen.worker, "rust-scribe") == 0);
  CHECK_STATUS(horde_client_fetch_models(client, HORDE_WORK_TEXT, &models), HORDE_STATUS_OK);
  CHECK(wait_for(client, models, &seen) == HORDE_EVENT_MODELS);
  CHECK(strstr(seen.text, "test/echo") != NULL);
  CHECK_STATUS(horde_client_fetch_user(client, &models), HORDE_STATUS_OK);
  CHECK(wait_for(client, models, &seen) == HORDE_EVENT_USER);
  CHECK(strstr(seen.text, "\"username\"") != NULL);
  CHECK(seen.kudos > 0.0);
  /* the same through the horde's own JSON body */
  CHECK_STATUS(horde_client_submit_json(client, HORDE_REQUEST_TEXT,
                                        "{\"prompt\": \"JSON\", \"models\": [\"test/echo\"],"
                                        " \"params\": {\"max_length\": 20}}",
                                        &id),
               HORDE_STATUS_OK);
  CHECK(wait_for(client, id, &seen) == HORDE_EVENT_COMPLETED);
  CHECK(strcmp(seen.text, "echo: JSON") == 0);
  horde_client_free(client);
}

/* --- cancel: one request cancelled, the rest by cancel_all, the rest on free --- */
static void case_cancel(const char *url, const char *key) {
  horde_client *client = connect_to(url, key);
  horde_image_request req;
  uint64_t a = 0, b = 0, c = 0;
  seen_t seen;
  if (client == NULL) {
    return;
  }
  horde_image_request_init(&req);
  req.prompt = "nobody serves this";
  req.model = "nobody/serves-this";
  req.width = 64;
  req.height = 64;
  CHECK_STATUS(horde_client_generate_image(client, &req, &a), HORDE_STATUS_OK);
  CHECK_STATUS(horde_client_generate_image(client, &req, &b), HORDE_STATUS_OK);
  CHECK_STATUS(horde_client_generate_image(client, &req, &c), HORDE_STATUS_OK);
  CHECK(a != b && b != c);
  CHECK_STATUS(horde_client_cancel(client, a), HORDE_STATUS_OK);
  CHECK(wait_for(client, a, &seen) == HORDE_EVENT_CANCELLED);
  CHECK_STATUS(horde_client_cancel(client, a), HORDE_STATUS_NOT_FOUND);
  CHECK_STATUS(horde_client_cancel_all(client), HORDE_STATUS_OK);
  {
    /* both end, in either order */
    int b_done = 0, c_done = 0;
    double start = now_seconds();
    while (!(b_done && c_done) && now_seconds() - start < 60.0) {
      horde_event ev;
      horde_event_init(&ev);
      CHECK_STATUS(horde_client_poll_event(client, &ev), HORDE_STATUS_OK);
      if (ev.kind == HORDE_EVENT_NONE) {
        nap();
      } else if (ev.kind == HORDE_EVENT_CANCELLED) {
        b_done |= ev.id == b;
        c_done |= ev.id == c;
      } else {
        CHECK(ev.kind == HORDE_EVENT_QUEUED || ev.kind == HORDE_EVENT_PROGRESS ||
              ev.kind == HORDE_EVENT_CONNECTION);
      }
    }
    CHECK(b_done && c_done);
  }
  /* one more, left queued: freeing the client cancels it on the horde */
  CHECK_STATUS(horde_client_generate_image(client, &req, &a), HORDE_STATUS_OK);
  {
    double start = now_seconds();
    int queued = 0;
    while (!queued && now_seconds() - start < 60.0) {
      horde_event ev;
      horde_event_init(&ev);
      CHECK_STATUS(horde_client_poll_event(client, &ev), HORDE_STATUS_OK);
      if (ev.kind == HORDE_EVENT_QUEUED && ev.id == a) {
        CHECK(ev.position >= 1);
        queued = 1;
      } else if (ev.kind == HORDE_EVENT_NONE) {
        nap();
      }
    }
    CHECK(queued);
  }
  horde_client_free(client);
}

/* --- worker: the game is the backend, answering its own requests --- */
static void case_worker(const char *url, const char *key) {
  horde_client *client = connect_to(url, key);
  horde_worker_config worker;
  horde_text_request text;
  horde_image_request image;
  /* Worker names and models are the horde's, not this process's: make
   * them this run's own. */
  char scribe[64], dreamer[64], text_model[64], image_model[64];
  const char *text_models[1], *image_models[1];
  snprintf(scribe, sizeof scribe, "c-game-scribe-%ld", (long)getpid());
  snprintf(dreamer, sizeof dreamer, "c-game-dreamer-%ld", (long)getpid());
  snprintf(text_model, sizeof text_model, "c/game-text-%ld", (long)getpid());
  snprintf(image_model, sizeof image_model, "c/game-image-%ld", (long)getpid());
  text_models[0] = text_model;
  image_models[0] = image_model;
  uint64_t text_id = 0, image_id = 0;
  int done = 0, stopped = 0, kudos_events = 0, jobs = 0, started = 0;
  double start = now_seconds();
  uint8_t *pixels = NULL;
  if (client == NULL) {
    return;
  }
  horde_worker_config_init(&worker);
  worker.name = scribe;
  worker.kind = HORDE_WORK_TEXT;
  worker.models = text_models;
  worker.models_len = 1;
  worker.start_idle = false;
  CHECK_STATUS(horde_client_start_worker(client, &worker), HORDE_STATUS_OK);
  CHECK_STATUS(horde_client_start_worker(client, &worker), HORDE_STATUS_BUSY);
  worker.name = dreamer;
  worker.kind = HORDE_WORK_IMAGE;
  worker.models = image_models;
  CHECK_STATUS(horde_client_start_worker(client, &worker), HORDE_STATUS_OK);
  CHECK_STATUS(horde_client_set_idle(client, true), HORDE_STATUS_OK);

  horde_text_request_init(&text);
  text.prompt = "Knock knock";
  text.model = text_model;
  CHECK_STATUS(horde_client_generate_text(client, &text, &text_id), HORDE_STATUS_OK);
  horde_image_request_init(&image);
  image.prompt = "a green square";
  image.model = image_model;
  image.width = 64;
  image.height = 128;
  CHECK_STATUS(horde_client_generate_image(client, &image, &image_id), HORDE_STATUS_OK);

  while (done < 2 && now_seconds() - start < 120.0) {
    horde_event ev;
    horde_event_init(&ev);
    CHECK_STATUS(horde_client_poll_event(client, &ev), HORDE_STATUS_OK);
    switch (ev.kind) {
    case HORDE_EVENT_NONE:
      nap();
      break;
    case HORDE_EVENT_WORKER:
      if (ev.worker_event == HORDE_WORKER_STARTED) {
        started++;
        CHECK(strstr(ev.json, "\"started\"") != NULL);
      }
      if (ev.worker_event == HORDE_WORKER_KUDOS_EARNED) {
        kudos_events++;
        CHECK(ev.kudos > 0.0);
      }
      break;
    case HORDE_EVENT_WORKER_JOB:
      jobs++;
      if (ev.job_kind == HORDE_WORK_TEXT) {
        char answer[256];
        const uint8_t pixel[4] = {1, 2, 3, 255};
        horde_image_view wrong = {pixel, 1, 1};
        CHECK(strcmp(ev.model, text_model) == 0);
        CHECK(strcmp(ev.worker, scribe) == 0);
        CHECK(strstr(ev.json, "\"max_length\"") != NULL);
        /* a wrong answer is refused and the ticket stays answerable */
        CHECK_STATUS(horde_client_submit_job_images(client, ev.id, &wrong, 1),
                     HORDE_STATUS_INVALID_ARG);
        snprintf(answer, sizeof answer, "Who's there? (%.*s)", (int)ev.text_len, ev.text);
        CHECK_STATUS(horde_client_submit_job_text(client, ev.id, answer), HORDE_STATUS_OK);
        CHECK_STATUS(horde_client_submit_job_text(client, ev.id, answer), HORDE_STATUS_NOT_FOUND);
      } else if (ev.job_kind == HORDE_WORK_IMAGE) {
        size_t n = (size_t)ev.width * ev.height * 4, i;
        horde_image_view view;
        CHECK(ev.width == 64 && ev.height == 128 && ev.count == 1);
        CHECK(strcmp(ev.worker, dreamer) == 0);
        CHECK(strcmp(ev.text, "a green square") == 0);
        CHECK_STATUS(horde_client_submit_job_text(client, ev.id, "no"), HORDE_STATUS_INVALID_ARG);
        pixels = (uint8_t *)malloc(n);
        CHECK(pixels != NULL);
        if (pixels == NULL) {
          break;
        }
        for (i = 0; i < n; i += 4) {
          pixels[i] = 10;
          pixels[i + 1] = 200;
          pixels[i + 2] = 30;
          pixels[i + 3] = 255;
        }
        view.rgba = pixels;
        view.width = ev.width;
        view.height = ev.height;
        CHECK_STATUS(horde_client_submit_job_images(client, ev.id, &view, 0),
                     HORDE_STATUS_INVALID_ARG);
        /* an image of another size than the job asks for is refused */
        view.width = ev.width / 2;
        view.height = ev.height / 4;
        CHECK_STATUS(horde_client_submit_job_images(client, ev.id, &view, 1),
                     HORDE_STATUS_INVALID_ARG);
        {
          char why[256];
          horde_last_error(why, sizeof why);
          CHECK(strstr(why, "the job asks for 64") != NULL);
        }
        view.width = ev.width;
        view.height = ev.height;
        /* lent, not copied: refused, the buffer stays ours (no release);
         * accepted, libhorde frees it through the callback once encoded */
        CHECK_STATUS(horde_client_submit_job_images_lent(client, ev.id, &view, 0, release_pixels,
                                                         pixels),
                     HORDE_STATUS_INVALID_ARG);
        CHECK_STATUS(horde_client_submit_job_images_lent(client, ev.id, &view, 1, release_pixels,
                                                         pixels),
                     HORDE_STATUS_OK);
        CHECK_STATUS(horde_client_submit_job_images_lent(client, ev.id, &view, 1, release_pixels,
                                                         pixels),
                     HORDE_STATUS_NOT_FOUND); /* answered already: nothing lent */
        pixels = NULL;
      }
      break;
    case HORDE_EVENT_TEXT:
      CHECK(ev.id == text_id);
      CHECK(strcmp(ev.text, "Who's there? (Knock knock)") == 0);
      CHECK(strcmp(ev.worker, scribe) == 0);
      break;
    case HORDE_EVENT_IMAGE:
      CHECK(ev.id == image_id);
      CHECK(ev.width == 64 && ev.height == 128);
      CHECK(ev.rgba != NULL && ev.rgba[0] == 10 && ev.rgba[1] == 200 && ev.rgba[2] == 30);
      CHECK(strcmp(ev.worker, dreamer) == 0);
      break;
    case HORDE_EVENT_COMPLETED:
      done++;
      break;
    case HORDE_EVENT_FAILED:
      fprintf(stderr, "request %llu failed: %s %s\n", (unsigned long long)ev.id, ev.rc, ev.message);
      failures++;
      done++;
      break;
    default:
      break;
    }
  }
  CHECK(done == 2);
  CHECK(jobs == 2);
  CHECK(started == 2);
  CHECK_STATUS(horde_client_set_idle(client, false), HORDE_STATUS_OK);
  /* One worker stops by name; the other goes on until all are stopped. */
  CHECK_STATUS(horde_client_stop_worker(client, NULL), HORDE_STATUS_NULL_PARAM);
  CHECK_STATUS(horde_client_stop_worker(NULL, scribe), HORDE_STATUS_NULL_PARAM);
  CHECK_STATUS(horde_client_stop_worker(client, "no-such-worker"), HORDE_STATUS_OK);
  CHECK_STATUS(horde_client_stop_worker(client, scribe), HORDE_STATUS_OK);
  start = now_seconds();
  while (stopped < 2 && now_seconds() - start < 60.0) {
    horde_event ev;
    horde_event_init(&ev);
    CHECK_STATUS(horde_client_poll_event(client, &ev), HORDE_STATUS_OK);
    if (ev.kind == HORDE_EVENT_NONE) {
      nap();
    } else if (ev.kind == HORDE_EVENT_WORKER) {
      if (ev.worker_event == HORDE_WORKER_KUDOS_EARNED) {
        kudos_events++;
      } else if (ev.worker_event == HORDE_WORKER_STOPPED) {
        stopped++;
        CHECK(strstr(ev.json, "\"jobs_done\":1") != NULL);
        /* The scribe first, alone; then the rest. */
        CHECK(strcmp(ev.worker, stopped == 1 ? scribe : dreamer) == 0);
        if (stopped == 1) {
          CHECK_STATUS(horde_client_stop_workers(client), HORDE_STATUS_OK);
        }
      }
    }
  }
  CHECK(stopped == 2);
  CHECK(kudos_events >= 2);
  horde_client_free(client);
  CHECK(__atomic_load_n(&released_buffers, __ATOMIC_SEQ_CST) == 1);
}

/* --- server: a private horde inside this process, a worker, a request --- */
/* Starts a horde (NULL config for the default limits), queues 6 image
 * requests no worker serves in one frame, waits until all are queued, and
 * answers how many RETRYING events said "rate limited". */
static int burst_retries(uint32_t limits) {
  horde_server_config config;
  horde_server *server = NULL;
  horde_client *client;
  horde_image_request req;
  char key[HORDE_API_KEY_BUF];
  uint64_t ids[6];
  bool was_queued[6] = {false};
  int queued = 0, retries = 0, i;
  double start = now_seconds();
  horde_server_config_init(&config);
  config.rate_limits = limits;
  CHECK_STATUS(horde_server_start(limits == HORDE_RATE_LIMITS_LOOPBACK_FREE ? NULL : &config,
                                  &server),
               HORDE_STATUS_OK);
  if (server == NULL) {
    return -1;
  }
  CHECK_STATUS(horde_server_add_user(server, "burst", 1000.0, true, key, sizeof key),
               HORDE_STATUS_OK);
  client = connect_to(horde_server_api_url(server), key);
  if (client == NULL) {
    horde_server_free(server);
    return -1;
  }
  horde_image_request_init(&req);
  req.prompt = "a crowd";
  req.model = "nobody/serves-this";
  for (i = 0; i < 6; i++) {
    CHECK_STATUS(horde_client_generate_image(client, &req, &ids[i]), HORDE_STATUS_OK);
  }
  while (queued < 6 && now_seconds() - start < 60.0) {
    horde_event ev;
    horde_event_init(&ev);
    CHECK_STATUS(horde_client_poll_event(client, &ev), HORDE_STATUS_OK);
    if (ev.kind == HORDE_EVENT_NONE) {
      nap();
    } else if (ev.kind == HORDE_EVENT_QUEUED) {
      for (i = 0; i < 6; i++) {
        if (ev.id == ids[i] && !was_queued[i]) {
          was_queued[i] = true;
          queued++;
        }
      }
    } else if (ev.kind == HORDE_EVENT_RETRYING) {
      CHECK(ev.status == HORDE_STATUS_RATE_LIMITED);
      CHECK(strstr(ev.json, "retry_in") != NULL);
      retries++;
    } else {
      CHECK(ev.kind != HORDE_EVENT_FAILED);
    }
  }
  CHECK(queued == 6);
  horde_client_free(client);
  horde_server_free(server);
  return retries;
}

static void case_server(const char *data_dir, const char *png) {
  horde_server_config config;
  horde_server *server = NULL, *second = NULL;
  horde_worker_config worker;
  horde_image_request req;
  char key[HORDE_API_KEY_BUF];
  char small[4];
  const char *url;
  horde_client *client;
  uint64_t id = 0;
  seen_t seen;
  horde_server_config_init(&config);
  config.data_dir = data_dir;
  CHECK_STATUS(horde_server_start(&config, &server), HORDE_STATUS_OK);
  if (server == NULL) {
    return;
  }
  CHECK_STATUS(horde_server_start(&config, &second), HORDE_STATUS_BUSY);
  CHECK(second == NULL);
  url = horde_server_api_url(server);
  CHECK(url != NULL && strncmp(url, "http://127.0.0.1:", 17) == 0);
  CHECK_STATUS(horde_server_add_user(server, NULL, 50.0, true, key, sizeof key),
               HORDE_STATUS_NULL_PARAM);
  CHECK_STATUS(horde_server_add_user(server, "player", 50.0, true, NULL, sizeof key),
               HORDE_STATUS_NULL_PARAM);
  CHECK_STATUS(horde_server_add_user(server, "player", 50.0, true, small, sizeof small),
               HORDE_STATUS_INVALID_ARG);
  CHECK_STATUS(horde_server_add_user(server, "player", -1.0, true, key, sizeof key),
               HORDE_STATUS_INVALID_ARG);
  CHECK_STATUS(horde_server_add_user(server, "player", 50.0, true, key, sizeof key),
               HORDE_STATUS_OK);
  CHECK(strlen(key) >= 20);
  client = connect_to(url, key);
  if (client != NULL) {
    horde_worker_config_init(&worker);
    worker.name = "c-embedded-dreamer";
    worker.backend = "kind = \"procedural\"";
    worker.start_idle = true;
    CHECK_STATUS(horde_client_start_worker(client, &worker), HORDE_STATUS_OK);
    horde_image_request_init(&req);
    req.prompt = "a private horde";
    req.model = "horde-rs/procedural";
    req.width = 64;
    req.height = 64;
    png_path = png;
    CHECK_STATUS(horde_client_generate_image(client, &req, &id), HORDE_STATUS_OK);
    CHECK(wait_for(client, id, &seen) == HORDE_EVENT_COMPLETED);
    CHECK(seen.images == 1);
    CHECK(strcmp(seen.worker, "c-embedded-dreamer") == 0);
    {
      /* A frame held in memory, interrogated with no disk round trip: a
       * 40x30 mostly-blue RGBA8 picture, captioned by an alchemist. */
      static uint8_t frame[40 * 30 * 4];
      const char *caption[] = {"caption"};
      horde_image_view view;
      int i, captioned = 0;
      double start = now_seconds();
      for (i = 0; i < 40 * 30; i++) {
        frame[i * 4] = 20;
        frame[i * 4 + 1] = 40;
        frame[i * 4 + 2] = 220;
        frame[i * 4 + 3] = 255;
      }
      horde_worker_config_init(&worker);
      worker.name = "c-embedded-alchemist";
      worker.backend = "kind = \"image-facts\"";
      worker.start_idle = true;
      CHECK_STATUS(horde_client_start_worker(client, &worker), HORDE_STATUS_OK);
      view.rgba = frame;
      view.width = 40;
      view.height = 30;
      CHECK_STATUS(horde_client_interrogate_rgba(client, &view, caption, 1, &id), HORDE_STATUS_OK);
      while (now_seconds() - start < 60.0) {
        horde_event ev;
        horde_event_init(&ev);
        CHECK_STATUS(horde_client_poll_event(client, &ev), HORDE_STATUS_OK);
        if (ev.kind == HORDE_EVENT_NONE) {
          nap();
          continue;
        }
        if (ev.id != id) {
          continue;
        }
        if (ev.kind == HORDE_EVENT_INTERROGATION) {
          CHECK(strcmp(ev.text, "caption") == 0);
          CHECK(ev.json != NULL && strstr(ev.json, "a 40x30 image, mostly blue") != NULL);
          captioned++;
        }
        if (ev.kind == HORDE_EVENT_COMPLETED || ev.kind == HORDE_EVENT_FAILED ||
            ev.kind == HORDE_EVENT_CANCELLED) {
          CHECK(ev.kind == HORDE_EVENT_COMPLETED);
          break;
        }
      }
      CHECK(captioned == 1);
      /* The PNG written above, interrogated as encoded bytes (copied by the
       * call, base64-encoded on the runtime's threads). */
      {
        static uint8_t encoded[1 << 20];
        size_t encoded_len;
        FILE *f = fopen(png, "rb");
        CHECK(f != NULL);
        encoded_len = f != NULL ? fread(encoded, 1, sizeof encoded, f) : 0;
        if (f != NULL) {
          fclose(f);
        }
        CHECK(encoded_len > 8);
        CHECK_STATUS(horde_client_interrogate(client, encoded, encoded_len, caption, 1, &id),
                     HORDE_STATUS_OK);
        memset(encoded, 0, sizeof encoded); /* the call copied it */
        captioned = 0;
        start = now_seconds();
        while (now_seconds() - start < 60.0) {
          horde_event ev;
          horde_event_init(&ev);
          CHECK_STATUS(horde_client_poll_event(client, &ev), HORDE_STATUS_OK);
          if (ev.kind == HORDE_EVENT_NONE) {
            nap();
            continue;
          }
          if (ev.id != id) {
            continue;
          }
          if (ev.kind == HORDE_EVENT_INTERROGATION) {
            CHECK(strstr(ev.json, "a 64x64 image") != NULL);
            captioned++;
          }
          if (ev.kind == HORDE_EVENT_COMPLETED || ev.kind == HORDE_EVENT_FAILED ||
              ev.kind == HORDE_EVENT_CANCELLED) {
            CHECK(ev.kind == HORDE_EVENT_COMPLETED);
            break;
          }
        }
        CHECK(captioned == 1);
      }
      /* Refusals, each before anything is sent. */
      view.width = 0;
      expect_refused(horde_client_interrogate_rgba(client, &view, caption, 1, &id), "sides");
      view.width = 40;
      {
        const char *telepathy[] = {"telepathy"};
        expect_refused(horde_client_interrogate_rgba(client, &view, telepathy, 1, &id),
                       "not a known form");
      }
      expect_refused(horde_client_interrogate_rgba(client, &view, caption, 0, &id), "no form");
      CHECK_STATUS(horde_client_interrogate_rgba(client, NULL, caption, 1, &id),
                   HORDE_STATUS_NULL_PARAM);
      view.rgba = NULL;
      CHECK_STATUS(horde_client_interrogate_rgba(client, &view, caption, 1, &id),
                   HORDE_STATUS_NULL_PARAM);
    }
    {
      /* text pricing in this process (the embedded horde prices the
       * request as it queues it), with max_context_length 0: the default */
      horde_text_request text;
      horde_text_request_init(&text);
      text.prompt = "Once upon a time";
      text.model = "nobody/serves-this";
      text.max_context_length = 0;
      CHECK_STATUS(horde_client_generate_text(client, &text, &id), HORDE_STATUS_OK);
      {
        double start = now_seconds();
        int queued = 0;
        while (!queued && now_seconds() - start < 60.0) {
          horde_event ev;
          horde_event_init(&ev);
          CHECK_STATUS(horde_client_poll_event(client, &ev), HORDE_STATUS_OK);
          if (ev.kind == HORDE_EVENT_NONE) {
            nap();
          } else if (ev.id == id) {
            CHECK(ev.kind == HORDE_EVENT_QUEUED);
            queued = ev.kind == HORDE_EVENT_QUEUED;
            if (ev.kind == HORDE_EVENT_FAILED) {
              break;
            }
          }
        }
        CHECK(queued);
      }
      CHECK_STATUS(horde_client_cancel(client, id), HORDE_STATUS_OK);
      CHECK(wait_for(client, id, &seen) == HORDE_EVENT_CANCELLED);
    }
    horde_client_free(client);
  }
  horde_server_free(server);

  /* The game's own burst: a NULL config never rate-limits loopback, while
   * upstream's limits for everyone (2 generations a second) make the
   * client wait, and say so with a RETRYING event naming the limit. */
  CHECK(burst_retries(HORDE_RATE_LIMITS_LOOPBACK_FREE) == 0);
  CHECK(burst_retries(HORDE_RATE_LIMITS_EVERYONE) > 0);
}

/* --- failure: the horde's refusals arrive as failed events --- */
static void case_failure(const char *url, const char *key) {
  horde_client *client = connect_to(url, key);
  horde_client *stranger = connect_to(url, "not-a-key-of-this-horde");
  uint64_t id = 0;
  seen_t seen;
  horde_image_request req;
  if (client == NULL || stranger == NULL) {
    horde_client_free(client);
    horde_client_free(stranger);
    return;
  }
  CHECK_STATUS(horde_client_submit_json(client, HORDE_REQUEST_IMAGE,
                                        "{\"prompt\": \"odd\", \"params\": {\"width\": 65}}", &id),
               HORDE_STATUS_OK);
  CHECK(wait_for(client, id, &seen) == HORDE_EVENT_FAILED);
  CHECK(seen.status == HORDE_STATUS_API);
  CHECK(strcmp(seen.rc, "InvalidSize") == 0);
  CHECK(strlen(seen.text) > 0);

  horde_image_request_init(&req);
  req.prompt = "a key this horde never issued";
  CHECK_STATUS(horde_client_generate_image(stranger, &req, &id), HORDE_STATUS_OK);
  CHECK(wait_for(stranger, id, &seen) == HORDE_EVENT_FAILED);
  CHECK(seen.status == HORDE_STATUS_API);
  CHECK(strcmp(seen.rc, "InvalidAPIKey") == 0);
  horde_client_free(stranger);
  horde_client_free(client);

  /* nothing listens here: retries back off until the request's deadline,
   * and the failure keeps the network cause */
  {
    horde_config config;
    horde_config_init(&config);
    config.base_url = "http://127.0.0.1:9/api";
    config.client_agent = AGENT;
    config.request_timeout_ms = 2000;
    client = NULL;
    CHECK_STATUS(horde_client_new(&config, &client), HORDE_STATUS_OK);
  }
  if (client != NULL) {
    horde_text_request text;
    horde_text_request_init(&text);
    text.prompt = "hello?";
    CHECK_STATUS(horde_client_generate_text(client, &text, &id), HORDE_STATUS_OK);
    CHECK(wait_for(client, id, &seen) == HORDE_EVENT_FAILED);
    CHECK(seen.status == HORDE_STATUS_NETWORK);
    CHECK(strcmp(seen.rc, "ServerUnreachable") == 0);
    CHECK(strstr(seen.text, "deadline") != NULL);
    CHECK(seen.retries > 0);
    CHECK(seen.connection_retrying == 1);
    horde_client_free(client);
  }
  /* no deadline: every request ends once the horde stayed unreachable for
   * give_up_after_ms, and the connection event says "unreachable" */
  {
    horde_config config;
    horde_config_init(&config);
    config.base_url = "http://127.0.0.1:9/api";
    config.client_agent = AGENT;
    config.give_up_after_ms = 500;
    config.shutdown_grace_ms = 100;
    client = NULL;
    CHECK_STATUS(horde_client_new(&config, &client), HORDE_STATUS_OK);
  }
  if (client != NULL) {
    uint64_t image = 0, user = 0;
    bool pending = true;
    int unreachable = 0;
    double start;
    horde_image_request_init(&req);
    req.prompt = "offline";
    CHECK_STATUS(horde_client_generate_image(client, &req, &image), HORDE_STATUS_OK);
    CHECK(wait_for(client, image, &seen) == HORDE_EVENT_FAILED);
    CHECK(seen.status == HORDE_STATUS_NETWORK);
    CHECK(strcmp(seen.rc, "ServerUnreachable") == 0);
    CHECK(seen.retries > 0);
    unreachable += seen.connection_unreachable;
    CHECK_STATUS(horde_client_is_pending(client, image, &pending), HORDE_STATUS_OK);
    CHECK(!pending);
    /* a question ends too, and is no longer pending once answered */
    CHECK_STATUS(horde_client_fetch_user(client, &user), HORDE_STATUS_OK);
    CHECK_STATUS(horde_client_is_pending(client, user, &pending), HORDE_STATUS_OK);
    CHECK(pending);
    CHECK(wait_for(client, user, &seen) == HORDE_EVENT_FAILED);
    CHECK(seen.status == HORDE_STATUS_NETWORK);
    unreachable += seen.connection_unreachable;
    CHECK_STATUS(horde_client_is_pending(client, user, &pending), HORDE_STATUS_OK);
    CHECK(!pending);
    start = now_seconds();
    while (unreachable == 0 && now_seconds() - start < 30.0) {
      horde_event ev;
      horde_event_init(&ev);
      CHECK_STATUS(horde_client_poll_event(client, &ev), HORDE_STATUS_OK);
      if (ev.kind == HORDE_EVENT_NONE) {
        nap();
      } else if (ev.kind == HORDE_EVENT_CONNECTION && strcmp(ev.rc, "Unreachable") == 0) {
        unreachable++;
      }
    }
    CHECK(unreachable == 1);
    horde_client_free(client);
  }
}

int main(int argc, char **argv) {
  const char *which = argc > 1 ? argv[1] : "";
  const char *url = argc > 2 ? argv[2] : "";
  const char *key = argc > 3 ? argv[3] : "";
  if (strcmp(which, "abi") == 0) {
    case_abi();
  } else if (strcmp(which, "misuse") == 0) {
    case_misuse(url, key);
  } else if (strcmp(which, "image") == 0) {
    case_image(url, key, argc > 4 ? argv[4] : NULL);
  } else if (strcmp(which, "text") == 0) {
    case_text(url, key);
  } else if (strcmp(which, "cancel") == 0) {
    case_cancel(url, key);
  } else if (strcmp(which, "failure") == 0) {
    case_failure(url, key);
  } else if (strcmp(which, "worker") == 0) {
    case_worker(url, key);
  } else if (strcmp(which, "server") == 0) {
    case_server(url, key); /* here: DATA_DIR PNG_PATH */
  } else {
    fprintf(stderr, "usage: api_test abi|misuse|image|text|cancel|failure|worker|server [URL KEY]\n");
    return 2;
  }
  if (failures > 0) {
    fprintf(stderr, "%s: %d check(s) failed\n", which, failures);
    return 1;
  }
  printf("%s: ok\n", which);
  return 0;
}
