// http_server.cpp — routes, handlers and the server's life: bind, load, serve, drain.
//
// Threads: cpp-httplib runs each connection on a pool thread; a completion's handler
// submits its request to the engine loop (engine_loop.hpp) and then waits for that request's
// events, so a streaming response holds its thread until it ends (the pool is sized for every
// running and queued request at once). One more thread waits for SIGINT/SIGTERM: the main one.
#include "http_server.hpp"

#include <atomic>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <memory>
#include <optional>

#include <httplib.h>

#include "api_error.hpp"
#include "engine_loop.hpp"
#include "metrics.hpp"
#include "openai_request.hpp"
#include "openai_response.hpp"
#include "text_stream.hpp"
#include "xla/error.hpp"

namespace xla::server {

using nlohmann::json;

namespace {

// How long a waiting handler sleeps before looking again (for a failed engine or shutdown).
constexpr std::chrono::milliseconds kPoll{200};

struct ServerState {
  ServerOptions options;
  std::optional<Tokenizer> tokenizer;
  std::unique_ptr<Model> model;
  std::unique_ptr<EngineLoop> loop;
  ModelInfo info;
  Metrics metrics;
  int64_t started = std::time(nullptr);
  std::atomic<bool> ready{false}, draining{false};
  std::atomic<int64_t> active{0};  // completions not yet answered in full
};

void send_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(dump(body), "application/json");
}

void send_error(httplib::Response& res, const ApiError& e) { send_json(res, e.status, error_body(e)); }

// The engine's and the library's errors, as an HTTP client should see them.
ApiError api_error_of(const Error& e) {
  switch (e.status()) {
    case Status::Busy:
      return ApiError(429, e.what(), "", "queue_full", "rate_limit_error");
    case Status::InvalidArg:
      return ApiError(400, e.what());
    default:
      return ApiError(500, e.what(), "", "", "server_error");
  }
}

// Runs a handler, turning whatever it throws into an OpenAI-shaped error response.
template <class F>
void guarded(httplib::Response& res, F&& body) {
  try {
    body();
  } catch (const ApiError& e) {
    send_error(res, e);
  } catch (const Error& e) {
    send_error(res, api_error_of(e));
  } catch (const std::exception& e) {
    send_error(res, ApiError(500, e.what(), "", "", "server_error"));
  }
}

// Counts a completion as under way from submission until its response object is gone.
struct ActiveGuard {
  std::atomic<int64_t>& n;
  explicit ActiveGuard(std::atomic<int64_t>& n_) : n(n_) { ++n; }
  ~ActiveGuard() { --n; }
};

// One completion being generated: its events in, its text and log-probs out.
struct Generation {
  ServerState& s;
  CompletionRequest request;
  EngineLoop::Ticket ticket;
  TextStream text;
  ResponseWriter writer;
  ActiveGuard active;
  std::vector<int32_t> tokens;  // every token generated
  Finish finish = Finish::None;
  bool done = false, started = false;

  Generation(ServerState& s_, CompletionRequest r, EngineLoop::Ticket t)
      : s(s_), request(std::move(r)), ticket(std::move(t)), text(*s.info.tokenizer, request.stop),
        writer(request, s.info, std::time(nullptr)), active(s.active) {}

  // Takes a batch of this request's events; returns the text that became final.
  std::string consume(const std::vector<EngineEvent>& events) {
    std::string delta;
    for (const EngineEvent& e : events) {
      if (done) break;
      if (e.token >= 0) {
        const bool stop_id = e.finish == Finish::Stop;  // the stop id itself: no text, no log-probs
        if (!stop_id && request.logprobs) {
          size_t offset = request.endpoint == Endpoint::Completion
                              ? s.info.tokenizer->decode(tokens, /*skip_special=*/true).size()
                              : 0;
          writer.add_logprobs(e, offset);
        }
        tokens.push_back(e.token);
        delta += text.push(e.token);
        if (text.stopped()) {  // a stop string: the request ends here
          finish = Finish::Stop;
          done = true;
          s.loop->cancel(ticket.id);
          break;
        }
      }
      if (e.finish != Finish::None) {
        delta += text.finish();
        finish = e.finish;
        done = true;
      }
    }
    return delta;
  }

  int64_t prompt_tokens() const { return int64_t(request.prompt.size()); }
  int64_t completion_tokens() const { return int64_t(tokens.size()); }
};

void serve_completion(ServerState& s, httplib::Response& res, CompletionRequest request, Clock::time_point arrival) {
  EngineRequest er;
  er.prompt = request.prompt;
  er.generation = request.generation;
  er.logprobs = request.logprobs;
  er.top_logprobs = request.top_logprobs;
  EngineLoop::Ticket ticket;
  try {
    ticket = s.loop->submit(er, arrival);
  } catch (const Error& e) {
    if (e.status() == Status::Aborted) throw ApiError(503, "the server is shutting down", "", "", "server_error");
    throw;
  }
  s.metrics.add_prompt_tokens(int64_t(request.prompt.size()));
  auto g = std::make_shared<Generation>(s, std::move(request), std::move(ticket));

  if (!g->request.stream) {
    std::vector<EngineEvent> batch;
    while (!g->done) {
      if (!g->ticket.events->wait(batch, kPoll)) {
        if (std::string why = g->ticket.events->failure(); !why.empty())
          throw ApiError(500, "the engine failed: " + why, "", "", "server_error");
        continue;
      }
      g->consume(batch);
    }
    send_json(res, 200, g->writer.response(g->text.text(), g->finish, g->prompt_tokens(), g->completion_tokens()));
    return;
  }

  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream",
      [g](size_t, httplib::DataSink& sink) {
        std::string out;
        if (!g->started) {
          g->started = true;
          if (g->request.endpoint == Endpoint::Chat) out += g->writer.role_chunk();
        }
        std::vector<EngineEvent> batch;
        if (g->ticket.events->wait(batch, kPoll)) {
          std::string delta = g->consume(batch);
          if (!delta.empty() || g->request.logprobs) out += g->writer.delta_chunk(delta);
          if (g->done) {
            out += g->writer.finish_chunk(g->finish);
            if (g->request.include_usage) out += g->writer.usage_chunk(g->prompt_tokens(), g->completion_tokens());
            out += ResponseWriter::done();
          }
        } else if (std::string why = g->ticket.events->failure(); !why.empty()) {
          out += sse(error_body(ApiError(500, "the engine failed: " + why, "", "", "server_error")));
          out += ResponseWriter::done();
          g->done = true;
        }
        // A write that fails means the client has gone: returning false ends the response,
        // and the releaser below cancels the request.
        if (!out.empty() && !sink.write(out.data(), out.size())) return false;
        if (g->done) sink.done();
        return true;
      },
      [g](bool) {
        if (!g->done) g->s.loop->cancel(g->ticket.id);
      });
}

bool authorized(const ServerState& s, const httplib::Request& req) {
  if (s.options.api_key.empty()) return true;
  const std::string expected = "Bearer " + s.options.api_key;
  const std::string given = req.get_header_value("Authorization");
  // compare in time independent of where they differ
  unsigned diff = unsigned(given.size() ^ expected.size());
  for (size_t i = 0; i < given.size(); ++i) diff |= unsigned(given[i] ^ expected[i % expected.size()]);
  return diff == 0;
}

bool needs_key(const std::string& path) {
  return path.rfind("/v1/", 0) == 0 || path == "/tokenize" || path == "/detokenize";
}

// Every endpoint and its one method.
constexpr std::pair<const char*, const char*> kEndpoints[] = {
    {"/v1/chat/completions", "POST"}, {"/v1/completions", "POST"}, {"/v1/models", "GET"}, {"/tokenize", "POST"},
    {"/detokenize", "POST"},          {"/health", "GET"},          {"/metrics", "GET"}};

// The method a path takes, nullptr for an unknown path.
const char* method_of(const std::string& path) {
  for (const auto& [known, method] : kEndpoints)
    if (path == known) return method;
  return nullptr;
}

// Endpoints named in the request counter (anything else counts as "other").
std::string endpoint_label(const std::string& path) { return method_of(path) ? path : "other"; }

void require_ready(const ServerState& s) {
  if (!s.ready) throw ApiError(503, "the model is still loading", "", "", "server_error");
}

void add_routes(httplib::Server& http, ServerState& s) {
  http.Post("/v1/chat/completions", [&s](const httplib::Request& req, httplib::Response& res) {
    guarded(res, [&] {
      const auto arrival = Clock::now();
      require_ready(s);
      serve_completion(s, res, parse_chat_request(parse_body(req.body), s.info), arrival);
    });
  });
  http.Post("/v1/completions", [&s](const httplib::Request& req, httplib::Response& res) {
    guarded(res, [&] {
      const auto arrival = Clock::now();
      require_ready(s);
      serve_completion(s, res, parse_completion_request(parse_body(req.body), s.info), arrival);
    });
  });
  http.Get("/v1/models", [&s](const httplib::Request&, httplib::Response& res) {
    guarded(res, [&] {
      require_ready(s);
      json model = {{"id", s.info.alias}, {"object", "model"}, {"created", s.started}, {"owned_by", "libxla"},
                    {"max_model_len", s.info.max_context}};
      send_json(res, 200, {{"object", "list"}, {"data", json::array({model})}});
    });
  });
  http.Post("/tokenize", [&s](const httplib::Request& req, httplib::Response& res) {
    guarded(res, [&] {
      require_ready(s);
      json body = parse_body(req.body);
      std::vector<int32_t> ids;
      if (auto m = body.find("messages"); m != body.end() && !m->is_null()) {
        bool add_generation_prompt = true;
        if (auto g = body.find("add_generation_prompt"); g != body.end() && !g->is_null()) {
          if (!g->is_boolean()) throw bad_request("add_generation_prompt", "'add_generation_prompt' must be a boolean");
          add_generation_prompt = g->get<bool>();
        }
        std::string text;
        try {
          text = render_chat(parse_messages(*m), add_generation_prompt);
        } catch (const Error& e) {
          throw bad_request("messages", e.what());
        }
        ids = s.info.tokenizer->encode(text, false);
      } else if (auto p = body.find("prompt"); p != body.end() && p->is_string()) {
        bool add_special = true;
        if (auto a = body.find("add_special_tokens"); a != body.end() && !a->is_null()) {
          if (!a->is_boolean()) throw bad_request("add_special_tokens", "'add_special_tokens' must be a boolean");
          add_special = a->get<bool>();
        }
        ids = s.info.tokenizer->encode(p->get<std::string>(), add_special);
      } else {
        throw bad_request("prompt", "give 'prompt' (a string) or 'messages'");
      }
      send_json(res, 200, {{"tokens", ids}, {"count", ids.size()}, {"max_model_len", s.info.max_context}});
    });
  });
  http.Post("/detokenize", [&s](const httplib::Request& req, httplib::Response& res) {
    guarded(res, [&] {
      require_ready(s);
      json body = parse_body(req.body);
      auto t = body.find("tokens");
      if (t == body.end() || !t->is_array()) throw bad_request("tokens", "'tokens' must be an array of token ids");
      std::vector<int32_t> ids;
      for (const json& id : *t) {
        if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() >= s.info.tokenizer->vocab_size())
          throw bad_request("tokens", "'tokens' holds " + dump(id) + ", not a token id of this tokenizer [0, " +
                                          std::to_string(s.info.tokenizer->vocab_size()) + ")");
        ids.push_back(id.get<int32_t>());
      }
      send_json(res, 200, {{"prompt", s.info.tokenizer->decode(ids, /*skip_special=*/false)}});
    });
  });
  http.Get("/health", [&s](const httplib::Request&, httplib::Response& res) {
    if (s.draining)
      send_json(res, 503, {{"status", "shutting down"}});
    else if (s.ready)
      send_json(res, 200, {{"status", "ok"}});
    else
      send_json(res, 503, {{"status", "loading"}});
  });
  http.Get("/metrics", [&s](const httplib::Request&, httplib::Response& res) {
    res.set_content(s.metrics.render(s.ready && s.loop ? s.loop->stats() : EngineStats{}),
                    "text/plain; version=0.0.4; charset=utf-8");
  });

  http.set_pre_routing_handler([&s](const httplib::Request& req, httplib::Response& res) {
    if (s.draining && req.path != "/health" && req.path != "/metrics") {
      send_error(res, ApiError(503, "the server is shutting down", "", "", "server_error"));
      return httplib::Server::HandlerResponse::Handled;
    }
    if (needs_key(req.path) && !authorized(s, req)) {
      send_error(res, ApiError(401, "a valid API key is needed: send the header 'Authorization: Bearer KEY'", "",
                               "invalid_api_key", "authentication_error"));
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  // Errors cpp-httplib answers itself (no route, a body over the limit, a bad request line)
  // get a body in OpenAI's shape too.
  http.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    const char* method = method_of(req.path);
    if ((res.status == 404 || res.status == 400) && method && req.method != method) {
      res.set_header("Allow", method);
      send_error(res, ApiError(405, req.path + " takes " + method + ", not " + req.method, "", "method_not_allowed"));
    } else if (res.status == 404) {
      send_error(res, ApiError(404, "no such endpoint: " + req.method + " " + req.path, "", "", "not_found_error"));
    } else if (res.status == 413 && req.get_header_value("Content-Type") == "application/x-www-form-urlencoded") {
      // cpp-httplib caps form bodies at 8 KiB whatever the limit (curl -d sends this type)
      send_error(res, ApiError(413, "a form-encoded body is limited to 8 KiB: send 'Content-Type: application/json'",
                               "", "request_too_large"));
    } else if (res.status == 413) {
      send_error(res, ApiError(413, "the request body is larger than this server accepts (--max-body)", "",
                               "request_too_large"));
    } else {
      send_error(res, ApiError(res.status, "the request could not be read (HTTP " + std::to_string(res.status) + ")"));
    }
    return httplib::Server::HandlerResponse::Handled;
  }));
  http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown error";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    send_error(res, ApiError(500, what, "", "", "server_error"));
  });
  http.set_logger([&s](const httplib::Request& req, const httplib::Response& res) {
    s.metrics.count_request(endpoint_label(req.path), res.status);
  });
}

std::string folder_name(const std::string& dir) {
  std::filesystem::path p = std::filesystem::path(dir).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  return p.filename().string();
}

}  // namespace

int run_server(const ServerOptions& options) {
  // SIGINT/SIGTERM are taken by sigwait() below, so every thread started from here blocks them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);  // a client gone mid-write is an error return, not a signal

  ServerState s;
  s.options = options;
  s.info.alias = options.alias.empty() ? folder_name(options.model_dir) : options.alias;
  if (!std::filesystem::is_directory(options.model_dir))
    throw std::runtime_error("no model folder: " + options.model_dir + " is not a directory");
  std::string tokenizer_path = options.tokenizer_path;
  if (tokenizer_path.empty()) {
    tokenizer_path = options.model_dir + "/tokenizer.json";
    if (!std::filesystem::exists(tokenizer_path))
      throw std::runtime_error("no tokenizer: " + tokenizer_path + " does not exist (pass --tokenizer FILE)");
  }
  s.tokenizer = Tokenizer::load(tokenizer_path);
  s.info.tokenizer = &*s.tokenizer;

  httplib::Server http;
  // every running and queued request holds a thread; a few more answer /health and /metrics
  const size_t threads = size_t(options.engine.max_seqs) + size_t(options.engine.max_queue) + 4;
  http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  http.set_payload_max_length(options.max_body);
  http.set_keep_alive_max_count(1000);
  http.set_keep_alive_timeout(3);  // bounds how long an idle connection delays shutdown
  http.set_tcp_nodelay(true);      // a streamed token leaves at once
  add_routes(http, s);
  int port = options.port;
  if (port == 0) {
    port = http.bind_to_any_port(options.host);
    if (port <= 0) throw std::runtime_error("cannot listen on " + options.host + " (any port)");
  } else if (!http.bind_to_port(options.host, port)) {
    throw std::runtime_error("cannot listen on " + options.host + ":" + std::to_string(port) +
                             " (in use, or not an address of this machine)");
  }
  std::thread listener([&] { http.listen_after_bind(); });
  auto stop_listening = [&] {
    // stop() does nothing before the listener has started: wait for it (a model that fails
    // to load can get here first).
    for (int i = 0; i < 5000 && !http.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    http.stop();
    listener.join();
  };

  try {
    s.model = load_model(options.model_dir, options.weights);
    s.loop = std::make_unique<EngineLoop>(*s.model, options.engine, s.metrics);
  } catch (...) {
    stop_listening();
    throw;
  }
  s.info.max_context = s.loop->max_context();
  s.info.vocab_size = s.model->vocab_size();
  s.ready = true;
  std::printf("listening on http://%s:%d\n", options.host.c_str(), port);
  std::fflush(stdout);

  int sig = 0;
  sigwait(&stop_signals, &sig);
  std::fprintf(stderr, "xla serve: %s: finishing the requests under way\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
  s.draining = true;
  s.loop->close();  // every stream gets its final chunk ("abort") and [DONE]; no new request starts
  for (int i = 0; i < 500 && s.active > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  stop_listening();
  s.loop.reset();
  return 0;
}

}  // namespace xla::server
