// commands.cpp — the `xla` subcommands over the C++ API: load a model folder and its
// tokenizer, sample with the flags given, stream text as tokens arrive.
#include "commands.hpp"

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <unistd.h>

#include "text_file.hpp"
#include "args.hpp"
#include "ranks.hpp"
#include "text_stream.hpp"
#include "cpu_kernels.hpp"
#include "xla/gemma.hpp"
#include "xla/xla.h"
#include "xla/mamba.hpp"
#include "xla/generate.hpp"
#include "xla/pipeline.hpp"
#include "xla/safetensors.hpp"
#include "xla/tokenizer.hpp"

namespace xla::cli {
namespace {

const std::set<std::string> kSamplingFlags = {"max-new-tokens", "temperature", "top-k", "top-p", "min-p",
                                              "repetition-penalty", "seed", "tokenizer", "model", "weights"};
const char* kSamplingHelp =
    "  --model DIR               Hugging Face folder (config.json, *.safetensors)\n"
    "  --tokenizer FILE          tokenizer.json (default: DIR/tokenizer.json)\n"
    "  --max-new-tokens N        default 256\n"
    "  --temperature T           0 = greedy (default)\n"
    "  --top-k K  --top-p P  --min-p P  --repetition-penalty R  --seed S\n";

bool wants_help(int argc, char** argv) {
  for (int i = 2; i < argc; ++i)
    if (std::string(argv[i]) == "--help" || std::string(argv[i]) == "-h") return true;
  return false;
}

GenerateOptions sampling(const Args& a) {
  GenerateOptions o;
  o.max_new_tokens = a.integer<int32_t>("max-new-tokens", 256, 0, INT32_MAX);
  o.sampler.temperature = float(a.number("temperature", 0));
  o.sampler.top_k = a.integer<int32_t>("top-k", 0, 0, INT32_MAX);
  o.sampler.top_p = float(a.number("top-p", 1));
  o.sampler.min_p = float(a.number("min-p", 0));
  o.sampler.repetition_penalty = float(a.number("repetition-penalty", 1));
  o.sampler.seed = a.integer<uint64_t>("seed", 0, 0, UINT64_MAX);
  validate(o.sampler);
  return o;
}

std::string tokenizer_path(const Args& a, const std::string& model_dir) {
  if (a.has("tokenizer")) return a.get("tokenizer");
  std::string p = model_dir + "/tokenizer.json";
  if (!std::filesystem::exists(p))
    throw std::runtime_error("no tokenizer: " + p + " does not exist (pass --tokenizer FILE)");
  return p;
}

// Prints the text of the tokens generated so far as it becomes final (server::TextStream: a
// character cut across byte tokens is held back until it is whole).
class Streamer {
 public:
  explicit Streamer(const Tokenizer& tok) : text_(tok, {}) {}
  void push(int32_t id) { print(text_.push(id)); }
  void finish() { print(text_.finish()); }  // what is still held back, at the end

 private:
  static void print(const std::string& s) {
    if (s.empty()) return;
    std::fwrite(s.data(), 1, s.size(), stdout);
    std::fflush(stdout);
  }
  server::TextStream text_;
};

// "2,651 6037" → {2, 651, 6037}: ids separated by commas or spaces.
std::vector<int32_t> parse_ids(const std::string& text) {
  std::vector<int32_t> ids;
  std::string cur;
  auto flush = [&] {
    if (cur.empty()) return;
    char* end = nullptr;
    errno = 0;
    const long long v = std::strtoll(cur.c_str(), &end, 10);
    if (*end != '\0' || errno || v < 0 || v > INT32_MAX) throw UsageError("--prompt-ids: '" + cur + "' is not a token id");
    ids.push_back(int32_t(v));
    cur.clear();
  };
  for (char c : text) {
    if (c == ',' || c == ' ') flush();
    else cur += c;
  }
  flush();
  if (ids.empty()) throw UsageError("--prompt-ids: no ids");
  return ids;
}

// The model of `xla generate`: whole, or this rank's stage of a pipeline under mpirun.
std::unique_ptr<Model> load_for_generation(const std::string& dir, DType dtype) {
  const std::shared_ptr<Collective> world = ranks();
  if (world && world->world_size() > 1) return load_pipeline(dir, world, dtype);
  return load_model(dir, dtype);
}

}  // namespace

int cmd_generate(int argc, char** argv) {
  if (wants_help(argc, argv)) {
    std::printf("usage: xla generate --model DIR (--prompt TEXT | --prompt-ids IDS) [options]\n%s%s"
                "  --chat                    wrap the prompt in Gemma's chat format\n"
                "  --ids                     print token ids instead of text\n"
                "  --prompt-ids IDS          the prompt as token ids (\"2,651,6037\"): no tokenizer is read,\n"
                "                            ids are printed, generation stops at the model's eos\n%s",
                kSamplingHelp, kWeightsHelp, kCompileHelp);
    return 0;
  }
  Args a(argc, argv, 2, [] { auto s = kSamplingFlags; s.insert("prompt"); s.insert("prompt-ids"); return s; }(),
         {"bf16", "chat", "ids", "compile"});
  const std::string dir = a.required("model");
  if (a.has("prompt") == a.has("prompt-ids")) throw UsageError("give either --prompt TEXT or --prompt-ids IDS");
  const std::shared_ptr<Collective> world = ranks();
  if (a.has("compile") && world && world->world_size() > 1)
    throw UsageError("--compile runs in one process (a pipeline's steps are not compiled)");
  const SessionOptions session_options{.compile = a.has("compile")};
  GenerateOptions opts = sampling(a);
  if (a.has("prompt-ids")) {
    if (a.has("chat")) throw UsageError("--chat renders text: give --prompt with it");
    const std::vector<int32_t> prompt = parse_ids(a.get("prompt-ids"));
    std::unique_ptr<Model> model = load_for_generation(dir, weight_format(a));
    if (model->special_tokens().eos >= 0) opts.stop_ids = {model->special_tokens().eos};
    Session(*model, session_options).generate(prompt, opts, [](int32_t t) {
      if (!is_first_rank()) return false;  // every rank samples the same token; rank 0 prints
      std::printf("%d\n", t);
      std::fflush(stdout);
      return false;
    });
    return 0;
  }
  const std::string prompt_text = a.required("prompt");
  Tokenizer tok = Tokenizer::load(tokenizer_path(a, dir));
  std::unique_ptr<Model> model = load_for_generation(dir, weight_format(a));
  std::vector<int32_t> prompt;
  if (a.has("chat")) {
    prompt = tok.encode(render_chat({{"user", prompt_text}}, true), false);  // the rendering has <bos>
    opts.stop_ids = {tok.end_of_turn_id(), tok.eos_id()};
  } else {
    prompt = tok.encode(prompt_text, true);
    opts.stop_ids = {tok.eos_id()};
  }
  Streamer out(tok);
  const bool prints = is_first_rank();
  Session(*model, session_options).generate(prompt, opts, [&](int32_t t) {
    if (!prints) return false;
    if (a.has("ids")) std::printf("%d\n", t);
    else out.push(t);
    return false;
  });
  if (!prints) return 0;
  out.finish();
  if (!a.has("ids")) std::printf("\n");
  return 0;
}

int cmd_chat(int argc, char** argv) {
  if (wants_help(argc, argv)) {
    std::printf("usage: xla chat --model DIR [options]\n%s%s  --system TEXT             a system prompt\n"
                "Type a message and press Enter; an empty line or end of input ends the chat.\n%s", kSamplingHelp,
                kWeightsHelp, kCompileHelp);
    return 0;
  }
  Args a(argc, argv, 2, [] { auto s = kSamplingFlags; s.insert("system"); return s; }(), {"bf16", "compile"});
  const std::string dir = a.required("model");
  GenerateOptions opts = sampling(a);
  Tokenizer tok = Tokenizer::load(tokenizer_path(a, dir));
  std::unique_ptr<Model> model = load_model(dir, weight_format(a));
  opts.stop_ids = {tok.end_of_turn_id(), tok.eos_id()};
  Session session(*model, {.compile = a.has("compile")});
  std::string system = a.get("system"), line;
  bool first = true;
  const bool tty = isatty(fileno(stdin));
  while (true) {
    if (tty) std::printf("> "), std::fflush(stdout);
    if (!std::getline(std::cin, line) || line.empty()) break;
    // the first turn carries <bos> (and the system prompt); later turns continue the cache
    std::vector<ChatMessage> turn;
    if (first && !system.empty()) turn.push_back({"system", system});
    turn.push_back({"user", line});
    std::string text = render_chat(turn, true);
    if (!first) {
      const std::string bos = tok.piece(tok.bos_id());
      if (text.rfind(bos, 0) == 0) text.erase(0, bos.size());
      text = "\n" + text;  // closes the previous model turn: "<end_of_turn>\n"
    }
    first = false;
    Streamer out(tok);
    session.generate(tok.encode(text, false), opts, [&](int32_t t) {
      if (t != tok.end_of_turn_id() && t != tok.eos_id()) out.push(t);
      return false;
    });
    out.finish();
    std::printf("\n");
  }
  return 0;
}

int cmd_tokenize(int argc, char** argv) {
  if (wants_help(argc, argv)) {
    std::printf("usage: xla tokenize --tokenizer FILE [--no-bos] TEXT\nPrints one line per token: id<TAB>piece.\n");
    return 0;
  }
  Args a(argc, argv, 2, {"tokenizer"}, {"no-bos"});
  if (a.positional().size() != 1) throw UsageError("give exactly one TEXT to tokenize");
  Tokenizer tok = Tokenizer::load(a.required("tokenizer"));
  for (int32_t id : tok.encode(a.positional()[0], !a.has("no-bos"))) std::printf("%d\t%s\n", id, tok.piece(id).c_str());
  return 0;
}

int cmd_info(int argc, char** argv) {
  if (wants_help(argc, argv)) {
    std::printf("usage: xla info [DIR]\nDescribes the model in a Hugging Face folder; without DIR, the library and the\n"
                "SIMD kernels it runs on this CPU (XLA_CPU=baseline|avx2|avx512|avx512bf16 forces a lower path).\n");
    return 0;
  }
  Args a(argc, argv, 2, {}, {});
  if (a.positional().empty()) {  // the library itself: which kernels this process runs
    std::printf("libxla         %d.%d.%d\n", XLA_VERSION_MAJOR, XLA_VERSION_MINOR, XLA_VERSION_PATCH);
    std::printf("kernels        %s (this CPU runs:", detail::cpu_kernels().name);
    for (const std::string& p : detail::available_cpu_paths()) std::printf(" %s", p.c_str());
    std::printf(")%s%s\n", std::getenv("XLA_CPU") ? ", forced by XLA_CPU=" : "", std::getenv("XLA_CPU") ? std::getenv("XLA_CPU") : "");
    return 0;
  }
  if (a.positional().size() != 1) throw UsageError("give one model folder (or none, to describe the library)");
  const std::string dir = a.positional()[0];
  // headers only: a 10 GB model is described without reading its weights
  const std::string config = io::read_text_file(dir + "/config.json");
  const bool mamba = model_type_of(config) == "mamba";
  io::Checkpoint ckpt = io::Checkpoint::open(dir);
  int64_t params = 0;
  std::map<std::string, int64_t> by_dtype;
  for (const std::string& name : ckpt.names()) {
    const io::TensorInfo& t = ckpt.info(name);
    const bool block_scales = name.ends_with("_scale") && ckpt.contains(name.substr(0, name.size() - 6)) &&
                              ckpt.info(name.substr(0, name.size() - 6)).dtype == DType::Q8;
    if (block_scales) continue;  // part of a q8 weight, not parameters of their own
    params += t.shape.numel();
    by_dtype[dtype_name(t.dtype)] += t.shape.numel();
  }
  if (mamba) {
    const MambaConfig c = MambaConfig::from_json(config);
    std::printf("architecture   Mamba (selective state space)\n");
    std::printf("parameters     %lld\n", (long long)params);
    std::printf("layers         %lld\n", (long long)c.num_layers);
    std::printf("hidden         %lld, intermediate %lld, vocabulary %lld\n", (long long)c.hidden_size,
                (long long)c.intermediate_size, (long long)c.vocab_size);
    std::printf("ssm            state %lld, conv kernel %lld, dt rank %lld\n", (long long)c.state_size,
                (long long)c.conv_kernel, (long long)c.time_step_rank);
  } else {
    const GemmaConfig c = GemmaConfig::from_json(config);
    int64_t sliding = 0;
    for (uint8_t s : c.sliding) sliding += s;
    std::printf("architecture   Gemma %d\n", c.version);
    std::printf("parameters     %lld\n", (long long)params);
    std::printf("layers         %lld (%lld sliding-window, %lld global)\n", (long long)c.num_layers, (long long)sliding,
                (long long)(c.num_layers - sliding));
    std::printf("hidden         %lld, intermediate %lld, vocabulary %lld\n", (long long)c.hidden_size,
                (long long)c.intermediate_size, (long long)c.vocab_size);
    std::printf("attention      %lld heads, %lld kv heads, head_dim %lld\n", (long long)c.num_heads,
                (long long)c.num_kv_heads, (long long)c.head_dim);
  }
  for (auto& [dt, n] : by_dtype) std::printf("dtype          %s: %lld parameters\n", dt.c_str(), (long long)n);
  return 0;
}

int cmd_quantize(int argc, char** argv) {
  if (wants_help(argc, argv)) {
    std::printf("usage: xla quantize DIR OUT\n"
                "Writes the Gemma model in DIR to OUT with 8-bit weights: every matrix as int8 blocks of 32\n"
                "with an f16 scale each (NAME: I8, NAME_scale: F16), norms in f32. OUT loads like any\n"
                "folder (as q8, or widened with --weights f32). Other files of DIR (tokenizer) are copied.\n");
    return 0;
  }
  Args a(argc, argv, 2, {}, {});
  if (a.positional().size() != 2) throw UsageError("give the model folder and the output folder");
  const std::string dir = a.positional()[0], out = a.positional()[1];
  if (std::filesystem::exists(out) && std::filesystem::equivalent(dir, out))
    throw UsageError("the output folder must differ from the model folder");
  std::unique_ptr<Model> model = load_model(dir, DType::Q8);
  model->save(out);
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_regular_file() || name == "config.json" || name.ends_with(".safetensors") ||
        name == "model.safetensors.index.json")
      continue;
    std::filesystem::copy_file(entry.path(), std::filesystem::path(out) / name,
                               std::filesystem::copy_options::overwrite_existing);
  }
  std::printf("wrote %s\n", out.c_str());
  return 0;
}

int cmd_create(int argc, char** argv) {
  if (wants_help(argc, argv)) {
    std::printf("usage: xla create --config FILE --out DIR [--seed N]\nWrites a randomly initialised model folder.\n");
    return 0;
  }
  Args a(argc, argv, 2, {"config", "out", "seed"}, {});
  const std::string config = io::read_text_file(a.required("config"));
  std::unique_ptr<Model> m = create_model(config, a.integer<uint64_t>("seed", 0, 0, UINT64_MAX));
  m->save(a.required("out"));
  std::printf("wrote %s\n", a.get("out").c_str());
  return 0;
}

}  // namespace xla::cli
