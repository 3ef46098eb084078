// plot.cpp — `xla plot`: training metrics (one JSON object per line, "step" the x axis) drawn
// as a self-contained SVG, one panel per metric stacked vertically, several runs overlaid.
// Not a plotting library: fixed layout, linear or log y, nothing but the SVG string it writes.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "text_file.hpp"
#include "args.hpp"
#include "commands.hpp"

namespace xla::cli {
namespace {

const char* kPlotHelp =
    "usage: xla plot FILE.jsonl [FILE.jsonl ...] -o OUT.svg [--metrics a,b] [--title T] [--log-y]\n"
    "Plots training metrics written one JSON object per line, e.g.\n"
    "  {\"step\":10,\"loss\":2.31,\"lr\":0.0003,\"grad_norm\":1.2}\n"
    "\"step\" is the x axis; every other numeric key is a metric. Blank lines are skipped;\n"
    "NaN and infinite values (NaN, Infinity, -Infinity, nan, inf) are skipped, not drawn.\n"
    "  -o, --output FILE   the SVG to write\n"
    "  --metrics a,b       the metrics to plot (default: all of them; loss first, then lr,\n"
    "                      grad_norm, tokens_per_s, the others); X and val_X share a panel\n"
    "  --title T           the title (default: the runs' names)\n"
    "  --log-y             logarithmic y axes (a panel with values <= 0 stays linear)\n"
    "Several files are several runs, overlaid in different colours and named by file stem.\n";

using Series = std::vector<std::pair<double, double>>;  // (step, value), finite only, in step order

struct Run {
  std::string file, name;
  std::map<std::string, Series> series;
  std::vector<std::string> seen;  // keys that appeared with a numeric or non-finite value, as first seen
};

// Python's json writes NaN, Infinity and -Infinity, printf writes nan and inf: none is JSON.
// Outside strings, such a bare word becomes null (a non-finite value, skipped when plotting).
std::string nonfinite_to_null(const std::string& line) {
  std::string out;
  out.reserve(line.size());
  bool in_string = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (in_string) {
      out += c;
      if (c == '\\' && i + 1 < line.size()) out += line[++i];
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
      out += c;
      continue;
    }
    size_t j = i + ((c == '-' || c == '+') ? 1 : 0);
    if (j < line.size() && std::isalpha(static_cast<unsigned char>(line[j]))) {
      size_t k = j;
      while (k < line.size() && std::isalpha(static_cast<unsigned char>(line[k]))) ++k;
      std::string word = line.substr(j, k - j);
      std::transform(word.begin(), word.end(), word.begin(), [](unsigned char ch) { return char(std::tolower(ch)); });
      out += (word == "nan" || word == "inf" || word == "infinity") ? std::string("null") : line.substr(i, k - i);
      i = k - 1;
      continue;
    }
    out += c;
  }
  return out;
}

Run read_run(const std::string& path) {
  Run run;
  run.file = path;
  io::for_each_jsonl_line(io::read_text_file(path), path, [&](std::string_view line, const std::string& at) {
    const std::string where = at + ": ";
    nlohmann::ordered_json j;  // keeps the keys in the order written
    try {
      j = nlohmann::ordered_json::parse(nonfinite_to_null(std::string(line)));
    } catch (const nlohmann::json::exception& e) {  // a syntax error, or a number like 1e999
      std::string why = e.what();  // "[json.exception.parse_error.101] parse error at line 1, column 18: ..."
      if (size_t c = why.find("column "); c != std::string::npos) why = "at " + why.substr(c);
      else if (size_t b = why.find("] "); b != std::string::npos) why = "(" + why.substr(b + 2) + ")";
      throw std::runtime_error(where + "malformed JSON " + why);
    }
    if (!j.is_object()) throw std::runtime_error(where + "expected a JSON object, got " + std::string(j.type_name()));
    auto s = j.find("step");
    if (s == j.end() || !s->is_number() || !std::isfinite(s->get<double>()))
      throw std::runtime_error(where + "no numeric \"step\"");
    const double step = s->get<double>();
    for (auto& [key, v] : j.items()) {
      if (key == "step" || !(v.is_number() || v.is_null())) continue;  // strings, flags, objects: not metrics
      if (std::find(run.seen.begin(), run.seen.end(), key) == run.seen.end()) run.seen.push_back(key);
      if (v.is_null()) continue;
      const double x = v.get<double>();
      if (std::isfinite(x)) run.series[key].push_back({step, x});
    }
  });
  for (auto& [key, pts] : run.series)
    std::stable_sort(pts.begin(), pts.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  return run;
}

// Legend names: the file stems; where two runs share one (runs/a/metrics.jsonl,
// runs/b/metrics.jsonl) the parent folder is put in front, then a counter if still equal.
void name_runs(std::vector<Run>& runs) {
  auto count = [&](const std::string& n) {
    return std::count_if(runs.begin(), runs.end(), [&](const Run& r) { return r.name == n; });
  };
  for (Run& r : runs) r.name = std::filesystem::path(r.file).stem().string();
  std::vector<std::string> stems;
  for (const Run& r : runs) stems.push_back(r.name);
  for (size_t i = 0; i < runs.size(); ++i)
    if (std::count(stems.begin(), stems.end(), stems[i]) > 1) {
      std::string parent = std::filesystem::path(runs[i].file).parent_path().filename().string();
      if (!parent.empty()) runs[i].name = parent + "/" + stems[i];
    }
  for (size_t i = 0; i < runs.size(); ++i)
    if (count(runs[i].name) > 1)
      for (size_t j = i + 1, n = 2; j < runs.size(); ++j)
        if (runs[j].name == runs[i].name) runs[j].name += " (" + std::to_string(n++) + ")";
}

// Panels: each a list of metrics. X and val_X share a panel placed where the first of them
// would be. Default order: loss, lr, grad_norm, tokens_per_s, then the rest as first seen.
std::vector<std::vector<std::string>> panels_for(std::vector<std::string> metrics, bool reorder) {
  if (reorder) {
    const std::vector<std::string> first = {"loss", "val_loss", "lr", "grad_norm", "tokens_per_s"};
    auto rank = [&](const std::string& m) {
      auto it = std::find(first.begin(), first.end(), m);
      return it == first.end() ? first.size() : size_t(it - first.begin());
    };
    std::stable_sort(metrics.begin(), metrics.end(),
                     [&](const std::string& a, const std::string& b) { return rank(a) < rank(b); });
  }
  std::vector<std::vector<std::string>> panels;
  std::set<std::string> placed;
  auto has = [&](const std::string& m) { return std::find(metrics.begin(), metrics.end(), m) != metrics.end(); };
  for (const std::string& m : metrics) {
    if (placed.count(m)) continue;
    std::vector<std::string> p = {m};
    if (m.rfind("val_", 0) == 0 && has(m.substr(4))) p = {m.substr(4), m};
    else if (has("val_" + m)) p.push_back("val_" + m);
    for (const std::string& x : p) placed.insert(x);
    panels.push_back(p);
  }
  return panels;
}

// Ticks at 1, 2 or 5 times a power of ten, about `target` of them; the range is widened
// to the ticks at either end.
std::vector<double> nice_ticks(double& lo, double& hi, int target) {
  if (!(hi > lo)) {
    const double d = lo != 0 ? std::fabs(lo) * 0.1 : 1.0;
    lo -= d;
    hi += d;
  }
  const double raw = (hi - lo) / target, mag = std::pow(10.0, std::floor(std::log10(raw))), norm = raw / mag;
  const double step = (norm < 1.5 ? 1 : norm < 3.5 ? 2 : norm < 7.5 ? 5 : 10) * mag;
  const double first = std::floor(lo / step + 1e-9), last = std::ceil(hi / step - 1e-9);
  lo = first * step;
  hi = last * step;
  std::vector<double> ticks;
  for (double k = first; k <= last + 0.5; ++k) ticks.push_back(k * step);
  return ticks;
}

// Log axis (lo > 0): ticks at 1, 2 and 5 times the powers of ten when [lo, hi] spans at most
// two decades, at the powers alone beyond; the range is narrowed to the ticks around the data.
std::vector<double> log_ticks(double& lo, double& hi) {
  const int a = int(std::floor(std::log10(lo))), b = int(std::ceil(std::log10(hi))) + 1;
  const std::vector<double> mults = b - a <= 3 ? std::vector<double>{1, 2, 5} : std::vector<double>{1};
  std::vector<double> all;
  for (int e = a; e <= b; ++e)
    for (double m : mults) all.push_back(m * std::pow(10.0, e));
  size_t first = 0, last = all.size() - 1;
  while (first + 1 < all.size() && all[first + 1] <= lo * (1 + 1e-12)) ++first;
  while (last > 0 && all[last - 1] >= hi * (1 - 1e-12)) --last;
  if (last <= first) last = first + 1;  // a constant series still gets a band
  lo = all[first];
  hi = all[last];
  return std::vector<double>(all.begin() + long(first), all.begin() + long(last) + 1);
}

std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      case '\'': o += "&apos;"; break;
      default: o += c;
    }
  }
  return o;
}

std::string num(double v, const char* fmt = "%.2f") {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

const char* kPalette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                          "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

// Layout, in SVG units.
constexpr double kWidth = 900, kLeft = 72, kPlotW = 620, kHeading = 20, kPlotH = 170, kPanelGap = 44;

std::string render(const std::vector<Run>& runs, const std::vector<std::vector<std::string>>& panels,
                   const std::string& title, bool log_y) {
  // one x range for every panel, so that steps line up down the page
  double xlo = INFINITY, xhi = -INFINITY;
  for (const auto& p : panels)
    for (const Run& r : runs)
      for (const std::string& m : p)
        if (auto it = r.series.find(m); it != r.series.end())
          for (auto& [s, v] : it->second) xlo = std::min(xlo, s), xhi = std::max(xhi, s);
  const std::vector<double> xticks = nice_ticks(xlo, xhi, 8);
  auto px = [&](double s) { return kLeft + (s - xlo) / (xhi - xlo) * kPlotW; };

  const double top = 48, panel_h = kHeading + kPlotH + kPanelGap;
  const double height = top + panel_h * double(panels.size());
  std::ostringstream o;
  o << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << kWidth << "\" height=\"" << height
    << "\" viewBox=\"0 0 " << kWidth << " " << height << "\" font-family=\"sans-serif\" font-size=\"11\">\n"
    << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    << "<text class=\"title\" x=\"" << kWidth / 2 << "\" y=\"28\" text-anchor=\"middle\" font-size=\"16\">"
    << esc(title) << "</text>\n";

  for (size_t pi = 0; pi < panels.size(); ++pi) {
    const auto& metrics = panels[pi];
    const double y0 = top + panel_h * double(pi) + kHeading;  // top of the plot area
    double ylo = INFINITY, yhi = -INFINITY;
    for (const Run& r : runs)
      for (const std::string& m : metrics)
        if (auto it = r.series.find(m); it != r.series.end())
          for (auto& [s, v] : it->second) ylo = std::min(ylo, v), yhi = std::max(yhi, v);
    const bool log = log_y && ylo > 0;
    const std::vector<double> yticks = log ? log_ticks(ylo, yhi) : nice_ticks(ylo, yhi, 5);
    auto py = [&](double v) {
      const double t = log ? (std::log10(v) - std::log10(ylo)) / (std::log10(yhi) - std::log10(ylo))
                           : (v - ylo) / (yhi - ylo);
      return y0 + kPlotH - t * kPlotH;
    };
    std::string joined;
    for (const std::string& m : metrics) joined += (joined.empty() ? "" : ",") + m;
    o << "<g class=\"panel\" data-metrics=\"" << esc(joined) << "\">\n";
    std::string heading;
    for (const std::string& m : metrics) heading += (heading.empty() ? "" : ", ") + m;
    o << "<text x=\"" << kLeft << "\" y=\"" << num(y0 - 6) << "\" font-size=\"13\" font-weight=\"bold\">"
      << esc(heading) << (log ? " (log scale)" : "") << "</text>\n";
    // grid, ticks and their labels
    for (double t : yticks) {
      const std::string y = num(py(t));
      o << "<line x1=\"" << kLeft << "\" y1=\"" << y << "\" x2=\"" << kLeft + kPlotW << "\" y2=\"" << y
        << "\" stroke=\"#e5e5e5\"/>\n"
        << "<text class=\"ytick\" x=\"" << kLeft - 6 << "\" y=\"" << y << "\" dy=\"0.32em\" text-anchor=\"end\">"
        << num(t, "%.6g") << "</text>\n";
    }
    for (double t : xticks) {
      const std::string x = num(px(t));
      o << "<line x1=\"" << x << "\" y1=\"" << num(y0) << "\" x2=\"" << x << "\" y2=\"" << num(y0 + kPlotH)
        << "\" stroke=\"#e5e5e5\"/>\n"
        << "<text class=\"xtick\" x=\"" << x << "\" y=\"" << num(y0 + kPlotH + 15)
        << "\" text-anchor=\"middle\">" << num(t, "%.6g") << "</text>\n";
    }
    o << "<rect x=\"" << kLeft << "\" y=\"" << num(y0) << "\" width=\"" << kPlotW << "\" height=\"" << kPlotH
      << "\" fill=\"none\" stroke=\"#444\"/>\n";
    if (pi + 1 == panels.size())
      o << "<text x=\"" << kLeft + kPlotW / 2 << "\" y=\"" << num(y0 + kPlotH + 32)
        << "\" text-anchor=\"middle\" fill=\"#444\">step</text>\n";

    // the series: coloured by run when there are several, else by metric; val_* dashed
    int entry = 0;
    for (size_t ri = 0; ri < runs.size(); ++ri)
      for (size_t mi = 0; mi < metrics.size(); ++mi) {
        auto it = runs[ri].series.find(metrics[mi]);
        if (it == runs[ri].series.end()) continue;
        const Series& pts = it->second;
        const char* colour = kPalette[(runs.size() > 1 ? ri : mi) % std::size(kPalette)];
        const bool dashed = metrics[mi].rfind("val_", 0) == 0;
        const std::string label = runs.size() > 1 ? runs[ri].name + " · " + metrics[mi] : metrics[mi];
        o << "<polyline class=\"series\" data-run=\"" << esc(runs[ri].name) << "\" data-metric=\""
          << esc(metrics[mi]) << "\" fill=\"none\" stroke=\"" << colour << "\" stroke-width=\"1.5\""
          << (dashed ? " stroke-dasharray=\"6 3\"" : "") << " points=\"";
        for (size_t k = 0; k < pts.size(); ++k)
          o << (k ? " " : "") << num(px(pts[k].first)) << "," << num(py(pts[k].second));
        o << "\"><title>" << esc(label) << "</title></polyline>\n";
        if (pts.size() == 1)  // a lone point draws no line
          o << "<circle cx=\"" << num(px(pts[0].first)) << "\" cy=\"" << num(py(pts[0].second))
            << "\" r=\"2.5\" fill=\"" << colour << "\"/>\n";
        // legend, right of the plot
        const double lx = kLeft + kPlotW + 14, ly = y0 + 10 + 16 * entry++;
        o << "<g class=\"legend\"><line x1=\"" << lx << "\" y1=\"" << num(ly) << "\" x2=\"" << lx + 20 << "\" y2=\""
          << num(ly) << "\" stroke=\"" << colour << "\" stroke-width=\"2\""
          << (dashed ? " stroke-dasharray=\"6 3\"" : "") << "/><text x=\"" << lx + 26 << "\" y=\"" << num(ly)
          << "\" dy=\"0.32em\">" << esc(label) << "</text></g>\n";
      }
    o << "</g>\n";
  }
  o << "</svg>\n";
  return o.str();
}

}  // namespace

int cmd_plot(int argc, char** argv) {
  // -o is the one short option in the tool: spell it the long way for Args
  std::vector<std::string> words;
  for (int i = 2; i < argc; ++i) {
    std::string w = argv[i];
    if (w == "--help" || w == "-h") {
      std::printf("%s", kPlotHelp);
      return 0;
    }
    words.push_back(w == "-o" ? "--output" : w);
  }
  std::vector<char*> av = {argv[0], argv[1]};
  for (std::string& w : words) av.push_back(w.data());
  Args a(int(av.size()), av.data(), 2, {"output", "metrics", "title"}, {"log-y"});
  if (a.positional().empty()) throw UsageError("give at least one metrics .jsonl file");
  if (!a.has("output")) throw UsageError("-o OUT.svg is required");
  const std::string out_path = a.get("output");

  std::vector<Run> runs;
  for (const std::string& p : a.positional()) runs.push_back(read_run(p));
  name_runs(runs);

  // every metric present in some run, in the order first seen
  std::vector<std::string> all;
  for (const Run& r : runs)
    for (const std::string& k : r.seen)
      if (std::find(all.begin(), all.end(), k) == all.end()) all.push_back(k);
  auto files = [&] {
    std::string s;
    for (const Run& r : runs) s += (s.empty() ? "" : ", ") + r.file;
    return s;
  };
  auto drawable = [&](const std::string& m) {
    return std::any_of(runs.begin(), runs.end(), [&](const Run& r) { return r.series.count(m) != 0; });
  };
  std::vector<std::string> chosen;
  if (a.has("metrics")) {
    std::stringstream ss(a.get("metrics"));
    for (std::string m; std::getline(ss, m, ',');) {
      if (m.empty()) continue;
      if (std::find(all.begin(), all.end(), m) == all.end()) {
        std::string have;
        for (const std::string& k : all) have += (have.empty() ? "" : ", ") + k;
        throw std::runtime_error("no metric '" + m + "' in " + files() + " (there are: " + have + ")");
      }
      if (!drawable(m)) throw std::runtime_error("metric '" + m + "' has no finite values in " + files());
      if (std::find(chosen.begin(), chosen.end(), m) == chosen.end()) chosen.push_back(m);
    }
    if (chosen.empty()) throw UsageError("--metrics names no metric");
  } else {
    for (const std::string& m : all)
      if (drawable(m)) chosen.push_back(m);
    if (chosen.empty()) throw std::runtime_error("no finite metric values in " + files());
  }
  const auto panels = panels_for(chosen, !a.has("metrics"));

  std::string title = a.get("title");
  if (!a.has("title"))
    for (const Run& r : runs) title += (title.empty() ? "" : ", ") + r.name;
  const std::string svg = render(runs, panels, title, a.has("log-y"));  // whole, before the file is opened

  // through a temporary, fsync'ed, then renamed: a full disk is an error naming the file and
  // leaves an earlier plot of the same name as it was
  io::write_file_durably(out_path, svg, "the plot");
  std::printf("wrote %s (%zu panel%s, %zu run%s)\n", out_path.c_str(), panels.size(), panels.size() == 1 ? "" : "s",
              runs.size(), runs.size() == 1 ? "" : "s");
  return 0;
}

}  // namespace xla::cli
