// training_state.cpp — training-state checkpoints (weights, adapters, optimizer moments,
// step, data position) for a bit-identical resume, written so that a kill at any moment
// leaves the previous one loadable: temporary folder → rename → `latest` replaced by rename.
// Model folders alone (config.json + model.safetensors) are Model::save's, not this.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "strict_json.hpp"
#include "text_file.hpp"
#include "xla/autograd.hpp"
#include "xla/safetensors.hpp"
#include "xla/trainer.hpp"

namespace fs = std::filesystem;

namespace xla::train {
namespace {

constexpr const char* kFormat = "libxla-train-1";

// state.json's fields, typed: a missing key or a wrong type is Status::Format naming the key
// (`where` is "checkpoint: DIR/state.json"), never a nlohmann exception.
const nlohmann::json& field(const nlohmann::json& obj, const char* key, const std::string& where) {
  if (!obj.is_object()) fail(Status::Format, where + ": '" + key + "' is inside a value that is not an object");
  if (!obj.contains(key)) fail(Status::Format, where + ": missing key '" + key + "'");
  return obj[key];
}
std::string string_field(const nlohmann::json& obj, const char* key, const std::string& where, bool required = true) {
  if (!required && (!obj.is_object() || !obj.contains(key))) return "";
  const nlohmann::json& v = field(obj, key, where);
  if (!v.is_string()) fail(Status::Format, where + ": '" + key + "' must be a string, got " + v.dump());
  return v.get<std::string>();
}
int64_t int_field(const nlohmann::json& obj, const char* key, const std::string& where) {
  const nlohmann::json& v = field(obj, key, where);
  if (!v.is_number_integer() || (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX)))
    fail(Status::Format, where + ": '" + key + "' must be an integer, got " + v.dump());
  return v.get<int64_t>();
}
uint64_t u64_field(const nlohmann::json& obj, const char* key, const std::string& where) {
  const nlohmann::json& v = field(obj, key, where);
  if (!v.is_number_unsigned()) fail(Status::Format, where + ": '" + key + "' must be a non-negative integer, got " + v.dump());
  return v.get<uint64_t>();
}

void fsync_path(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) fail(Status::IO, "checkpoint: cannot open " + path + " to sync it");
  ::fsync(fd);
  ::close(fd);
}

// Through "path.tmp": write, fsync, close checked, rename, folder fsync.
void write_synced(const std::string& path, const std::string& text) {
  io::write_file_durably(path, text, "checkpoint file");
}

std::string step_name(int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "step-%08lld", static_cast<long long>(step));
  return buf;
}

const char* kind_name(OptimizerKind k) {
  return k == OptimizerKind::SGD ? "sgd" : k == OptimizerKind::Adam ? "adam" : "adamw";
}

}  // namespace

std::string save_training_state(const std::string& root, const Model& model, const Optimizer* optimizer,
                            const TrainState& state, int keep_last) {
  if (root.empty()) fail(Status::InvalidArg, "checkpoint: empty folder name");
  if (keep_last < 1) fail(Status::InvalidArg, "checkpoint: keep_last must be >= 1");
  if (optimizer) check_optimizer_of(*optimizer, model, "checkpoint");
  if (state.step < 0) fail(Status::InvalidArg, "checkpoint: the step is negative (" + std::to_string(state.step) + ")");
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) fail(Status::IO, "checkpoint: cannot create " + root + ": " + ec.message());
  const std::string name = step_name(state.step);
  const std::string tmp = root + "/.tmp-" + name + "-" + std::to_string(::getpid());
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  if (ec) fail(Status::IO, "checkpoint: cannot create " + tmp + ": " + ec.message());

  // A failed save (a full disk, most often) removes what it wrote: retries must not fill the
  // disk with half-written folders, and an uncommitted step folder is not a checkpoint.
  std::string final_name = name, final_dir;
  bool renamed = false;
  try {
    model.save(tmp);  // config.json + model.safetensors
    nlohmann::json st = {{"format", kFormat},
                         {"step", state.step},
                         {"data", {{"seed", state.data.seed}, {"epoch", state.data.epoch}, {"position", state.data.position}}}};
    if (!state.trainer.empty()) st["trainer"] = state.trainer;
    if (!state.reference.empty()) st["reference"] = state.reference;
    if (!state.extra.empty()) st["extra"] = nlohmann::json::parse(state.extra);
    if (state.world_size > 1) st["world_size"] = state.world_size;
    if (model.has_lora()) {
      std::vector<std::pair<std::string, Tensor>> adapters;
      for (auto& [name, p] : const_cast<Model&>(model).lora_parameters()) adapters.emplace_back(name, detach(*p));
      char alpha[32];
      std::snprintf(alpha, sizeof alpha, "%.9g", double(model.lora_alpha));
      io::save_safetensors(tmp + "/adapters.safetensors", adapters,
                           {{"format", "libxla-lora"}, {"rank", std::to_string(model.lora_rank)}, {"alpha", alpha}});
    }
    if (optimizer) {
      io::save_safetensors(tmp + "/optimizer.safetensors", optimizer->state(), {{"format", "libxla-optimizer"}});
      st["optimizer"] = {{"kind", kind_name(optimizer->options().kind)}, {"steps", optimizer->steps()}, {"lr", optimizer->lr()}};
    }
    write_synced(tmp + "/state.json", st.dump(2) + "\n");  // the config and weights are synced by now
    fsync_path(tmp);

    // The same step saved again gets a new folder name: renaming the old one away first would
    // leave `latest` naming nothing for a moment.
    for (int r = 1; fs::exists(root + "/" + final_name); ++r) final_name = name + "-r" + std::to_string(r);
    final_dir = root + "/" + final_name;
    fs::rename(tmp, final_dir, ec);
    if (ec) fail(Status::IO, "checkpoint: cannot rename " + tmp + " to " + final_dir + ": " + ec.message());
    renamed = true;
    fsync_path(root);
    // the commit point: `latest` is replaced atomically
    write_synced(root + "/latest", final_name + "\n");
  } catch (...) {
    std::error_code ignored;
    fs::remove_all(tmp, ignored);
    if (renamed) fs::remove_all(final_dir, ignored);
    throw;
  }

  // clean up: temporaries of killed saves, and checkpoints beyond keep_last
  std::vector<std::string> steps;
  for (const auto& e : fs::directory_iterator(root, ec)) {
    const std::string n = e.path().filename().string();
    if (n.rfind(".tmp-", 0) == 0) fs::remove_all(e.path(), ec);
    else if (n.rfind("step-", 0) == 0 && e.is_directory()) steps.push_back(n);
  }
  std::sort(steps.begin(), steps.end());
  for (size_t i = 0; i + size_t(keep_last) < steps.size(); ++i)
    if (steps[i] != final_name) fs::remove_all(root + "/" + steps[i], ec);
  return final_dir;
}

std::string latest_training_state(const std::string& root) {
  const std::string path = root + "/latest";
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 && (errno == ENOENT || errno == ENOTDIR)) return "";  // no checkpoint yet
  // a regular file only: a FIFO or a folder named `latest` is an error, never a hang
  const std::string text = io::read_text_file(path, "the checkpoint pointer");
  const std::string name = text.substr(0, text.find('\n'));
  if (name.empty() || name.find('/') != std::string::npos)
    fail(Status::Format, "checkpoint: " + root + "/latest does not name a checkpoint folder");
  return root + "/" + name;
}

TrainState load_training_state(const std::string& path, Model& model, Optimizer* optimizer) {
  if (optimizer) check_optimizer_of(*optimizer, model, "checkpoint");
  std::string dir = path;
  if (!fs::exists(dir + "/state.json")) {
    dir = latest_training_state(path);
    if (dir.empty()) fail(Status::IO, "checkpoint: no checkpoint in " + path + " (no state.json, no latest)");
  }
  const std::string where = "checkpoint: " + dir + "/state.json";
  const nlohmann::json st =
      xla::detail::parse_json_strict(io::read_text_file(dir + "/state.json", "the checkpoint state"), where);
  if (!st.is_object()) fail(Status::Format, where + ": not a JSON object");
  TrainState s;
  if (string_field(st, "format", where) != kFormat)
    fail(Status::Format, "checkpoint: " + dir + " has format " + st["format"].dump() + ", expected " + kFormat);
  s.step = int_field(st, "step", where);
  const nlohmann::json& data = field(st, "data", where);
  s.data.seed = u64_field(data, "seed", where);
  s.data.epoch = int_field(data, "epoch", where);
  s.data.position = int_field(data, "position", where);
  s.trainer = string_field(st, "trainer", where, false);
  s.reference = string_field(st, "reference", where, false);
  if (st.contains("extra")) s.extra = st["extra"].dump();
  if (st.contains("world_size")) s.world_size = int_field(st, "world_size", where);
  // a tampered or corrupt state: counts are never negative
  if (s.step < 0 || s.data.epoch < 0 || s.data.position < 0 || s.world_size < 1)
    fail(Status::Format, "checkpoint: " + dir + "/state.json has a negative step, epoch or position (step " +
                             std::to_string(s.step) + ", epoch " + std::to_string(s.data.epoch) + ", position " +
                             std::to_string(s.data.position) + ")");

  // the weights, copied into the model's own tensors
  const std::string saved = canonical_config_json(io::read_text_file(dir + "/config.json", "the checkpoint config"));
  if (saved != model.config_json())
    fail(Status::Format, "checkpoint: " + dir + " holds a model of another configuration");
  io::SafetensorsFile weights = io::SafetensorsFile::open(dir + "/model.safetensors");
  std::vector<std::pair<std::string, Tensor>> loaded;
  for (auto& [name, p] : model.named_parameters()) {
    if (!p->defined()) continue;
    if (!weights.contains(name)) fail(Status::Format, "checkpoint: tensor " + name + " is missing from " + dir);
    Tensor t = weights.tensor(name, p->dtype());
    if (!(t.shape() == p->shape()))
      fail(Status::Format, "checkpoint: tensor " + name + " has shape " + t.shape().str() + ", the model " + p->shape().str());
    loaded.emplace_back(name, std::move(t));
  }
  // LoRA adapters: present in the checkpoint exactly when the model has them, same rank and names
  const bool has_adapters = fs::exists(dir + "/adapters.safetensors");
  if (has_adapters != model.has_lora())
    fail(Status::Format, "checkpoint: " + dir + (has_adapters ? " holds LoRA adapters, the model has none (add_lora first)"
                                                              : " holds no LoRA adapters, the model has some"));
  std::vector<Tensor> adapters;
  if (has_adapters) {
    io::SafetensorsFile f = io::SafetensorsFile::open(dir + "/adapters.safetensors");
    const auto& meta = f.metadata();
    const std::string rank = meta.count("rank") ? meta.at("rank") : "?", alpha = meta.count("alpha") ? meta.at("alpha") : "?";
    char* end = nullptr;
    const float a = std::strtof(alpha.c_str(), &end);
    if (rank != std::to_string(model.lora_rank) || alpha.empty() || *end != '\0' || a != model.lora_alpha)
      fail(Status::Format, "checkpoint: " + dir + " holds LoRA adapters of rank " + rank + " and alpha " + alpha +
                               ", the model's are " + std::to_string(model.lora_rank) + " and " +
                               std::to_string(model.lora_alpha));
    auto params = model.lora_parameters();
    if (f.names().size() != params.size())
      fail(Status::Format, "checkpoint: " + dir + " holds " + std::to_string(f.names().size()) + " adapter tensors, the model " +
                               std::to_string(params.size()));
    for (auto& [name, p] : params) {
      if (!f.contains(name)) fail(Status::Format, "checkpoint: adapter " + name + " is missing from " + dir);
      Tensor t = f.tensor(name, DType::F32);
      if (!(t.shape() == p->shape()))
        fail(Status::Format, "checkpoint: adapter " + name + " has shape " + t.shape().str() + ", the model " + p->shape().str());
      adapters.push_back(std::move(t));
    }
  }
  // optimizer state, read in full before anything is changed
  std::map<std::string, Tensor> moments;
  int64_t opt_steps = 0;
  double opt_lr = 0;
  if (optimizer) {
    if (!st.contains("optimizer")) fail(Status::Format, "checkpoint: " + dir + " has no optimizer state");
    const nlohmann::json& opt = st["optimizer"];
    const std::string kind = string_field(opt, "kind", where, false);
    if (kind != kind_name(optimizer->options().kind))
      fail(Status::Format, "checkpoint: " + dir + " holds " + kind + " state, the optimizer is " +
                               kind_name(optimizer->options().kind));
    opt_steps = opt.contains("steps") ? int_field(opt, "steps", where) : 0;
    opt_lr = optimizer->lr();
    if (opt.contains("lr")) {
      if (!opt["lr"].is_number()) fail(Status::Format, where + ": 'lr' must be a number, got " + opt["lr"].dump());
      opt_lr = opt["lr"].get<double>();
    }
    io::SafetensorsFile f = io::SafetensorsFile::open(dir + "/optimizer.safetensors");
    for (const std::string& n : f.names()) moments[n] = f.tensor(n);
  }
  // every check passed: apply
  if (optimizer) {
    optimizer->load_state(moments, opt_steps);
    optimizer->set_lr(opt_lr);
  }
  size_t i = 0;
  for (auto& [name, p] : model.named_parameters())
    if (p->defined()) p->copy_(loaded[i++].second);
  i = 0;
  for (auto& [name, p] : model.lora_parameters()) p->copy_(adapters[i++]);
  return s;
}

}  // namespace xla::train
