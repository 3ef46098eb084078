// fuse.cpp — elementwise fusion. Walking the graph in order, an elementwise op joins the
// group of an input that has its shape; a reduction over trailing axes joins the group of
// its input and ends it. A group is closed as soon as something outside it reads one of
// its values: everything the group computes is then ready by its last member, where its
// Fused node is placed, and no cycle can form. Each group becomes one loop (fused_loop.hpp)
// storing only the values read outside it. A small producer read only by loops of larger
// shapes (a norm's per-row rsqrt, a per-column 1 + w) is no loop of its own: each reader's
// loop computes it from its inputs, broadcast.
#include <cstring>
#include <functional>
#include <map>

#include "fused_loop.hpp"
#include "passes.hpp"

namespace xla::compiler {
namespace {

using detail::OpKind;

bool is_float(DType t) { return t == DType::F32 || t == DType::BF16 || t == DType::F16; }
bool readable(DType t) { return t != DType::Q8; }

bool fusable_elementwise(const Graph& g, const Node& n) {
  if (!is_elementwise(n)) return false;
  for (int j : n.in)
    if (!readable(g.nodes[size_t(j)].dtype)) return false;
  if (n.op == OpKind::Binary && detail::is_comparison(detail::BinaryCode(n.code))) {
    // two integer sides compare as int64 (exact past 2^24): left to the op
    return is_float(g.nodes[size_t(n.in[0])].dtype) || is_float(g.nodes[size_t(n.in[1])].dtype);
  }
  return n.dtype == DType::F32;
}

// A sum/mean/max/min over the last k >= 1 axes.
bool fusable_reduction(const Graph& g, const Node& n) {
  if (n.kind != NodeKind::Op || n.op != OpKind::Reduce || n.axes.empty()) return false;
  const Node& x = g.nodes[size_t(n.in[0])];
  if (!readable(x.dtype)) return false;
  const int nd = x.shape.size(), k = int(n.axes.size());
  for (int i = 0; i < k; ++i)
    if (n.axes[size_t(i)] != nd - k + i) return false;
  return true;
}

// The value every element of a constant holds, when they are all equal.
bool uniform_value(const Node& n, float& v) {
  if (n.kind != NodeKind::Constant || n.value.numel() == 0 || n.value.numel() > 4096 || n.value.dtype() == DType::Q8)
    return false;
  std::vector<float> vals = n.value.to_vector();
  for (float x : vals)
    if (std::memcmp(&x, &vals[0], sizeof(float)) != 0) return false;
  v = vals[0];
  return true;
}

struct Group {
  Shape shape;
  std::vector<int> members;
  int reduction = -1;
  bool closed = false;
};

}  // namespace

Graph fuse_elementwise(const Graph& g) {
  const size_t N = g.nodes.size();
  std::vector<char> is_output(N, 0);
  for (int o : g.outputs) is_output[size_t(o)] = 1;
  const auto users = users_of(g);
  // Small producers computed inside their consumers' loops instead of a loop of their own:
  // an elementwise op whose every reader is an elementwise op of a larger shape (or such a
  // producer itself), e.g. RMSNorm's rsqrt(mean + ε) per row or (1 + w) per column. Its
  // value broadcasts along the consumer's blocks, so a row's is one number per block.
  std::vector<char> inlined(N, 0);
  for (size_t i = N; i-- > 0;) {
    const Node& n = g.nodes[i];
    if (!fusable_elementwise(g, n) || is_output[i] || users[i].empty()) continue;
    bool ok = true;
    for (int u : users[i]) {
      const Node& un = g.nodes[size_t(u)];
      ok = ok && fusable_elementwise(g, un) && (un.shape == n.shape ? bool(inlined[size_t(u)]) : true);
    }
    inlined[i] = ok;
  }
  std::vector<int> group_of(N, -1);
  std::vector<Group> groups;
  auto open_group_of = [&](int j, const Shape& shape) {
    int gid = group_of[size_t(j)];
    return gid >= 0 && !groups[size_t(gid)].closed && groups[size_t(gid)].shape == shape ? gid : -1;
  };
  for (size_t i = 0; i < N; ++i) {
    const Node& n = g.nodes[i];
    int gid = -1;
    if (n.kind == NodeKind::Effect) {  // no loop moves past an in-place write: every group ends before it
      for (Group& grp : groups) grp.closed = true;
    } else if (inlined[i]) {
      // computed in its readers' loops: it joins none, and what it reads is read from outside
    } else if (fusable_elementwise(g, n)) {
      for (int j : n.in)
        if ((gid = open_group_of(j, n.shape)) >= 0) break;
      if (gid < 0) {
        gid = int(groups.size());
        groups.push_back({n.shape, {}, -1, false});
      }
    } else if (fusable_reduction(g, n)) {
      const Shape& shape = g.nodes[size_t(n.in[0])].shape;
      gid = open_group_of(n.in[0], shape);
      if (gid < 0) {
        gid = int(groups.size());
        groups.push_back({shape, {}, -1, false});
      }
      groups[size_t(gid)].reduction = int(i);
    }
    if (gid >= 0) {
      group_of[i] = gid;
      groups[size_t(gid)].members.push_back(int(i));
      if (groups[size_t(gid)].reduction >= 0) groups[size_t(gid)].closed = true;
    }
    for (int j : n.in)  // read from outside: that group is done
      if (group_of[size_t(j)] >= 0 && group_of[size_t(j)] != gid) groups[size_t(group_of[size_t(j)])].closed = true;
  }

  Graph out;
  std::vector<int> id(N, -1);
  for (size_t i = 0; i < N; ++i) {
    const int gid = group_of[i];
    if (inlined[i]) continue;  // in its readers' loops
    if (gid < 0) {
      Node n = g.nodes[i];
      for (int& j : n.in) j = id[size_t(j)];
      id[i] = out.add(std::move(n));
      continue;
    }
    const Group& grp = groups[size_t(gid)];
    if (int(i) != grp.members.back()) continue;

    // the group's loop: registers for members, loads for outside values, immediates for constants
    auto loop = std::make_shared<FusedLoop>();
    loop->shape = grp.shape;
    Node fused;
    fused.kind = NodeKind::Fused;
    fused.name = "fused";
    fused.shape = grp.shape;
    std::map<int, int> reg;           // node → register
    std::map<uint32_t, int> imm_reg;  // immediate bits → register
    std::function<int(int)> emit;  // an elementwise node's instruction, its operands first
    auto operand = [&](int j) {
      if (auto it = reg.find(j); it != reg.end()) return it->second;
      if (inlined[size_t(j)]) return emit(j);
      float v;
      if (uniform_value(g.nodes[size_t(j)], v)) {
        uint32_t bits;
        std::memcpy(&bits, &v, sizeof bits);
        if (auto it = imm_reg.find(bits); it != imm_reg.end()) return it->second;
        FusedLoop::Instr in;
        in.step = FusedLoop::Step::Imm;
        in.imm = v;
        loop->code.push_back(in);
        return imm_reg[bits] = int(loop->code.size()) - 1;
      }
      FusedLoop::Instr in;
      in.step = FusedLoop::Step::Load;
      in.a = int(fused.in.size());
      fused.in.push_back(id[size_t(j)]);
      loop->code.push_back(in);
      return reg[j] = int(loop->code.size()) - 1;
    };
    emit = [&](int m) {
      const Node& n = g.nodes[size_t(m)];
      FusedLoop::Instr in;
      in.name = n.name;
      in.code = n.code;
      switch (n.op) {
        case OpKind::Unary:
          in.step = FusedLoop::Step::Unary;
          in.a = operand(n.in[0]);
          break;
        case OpKind::Binary:
          in.step = FusedLoop::Step::Binary;
          in.a = operand(n.in[0]);
          in.b = operand(n.in[1]);
          break;
        case OpKind::Where:
          in.step = FusedLoop::Step::Where;
          in.c = operand(n.in[0]);
          in.a = operand(n.in[1]);
          in.b = operand(n.in[2]);
          break;
        default:
          in.step = FusedLoop::Step::Copy;
          in.a = operand(n.in[0]);
          break;
      }
      loop->code.push_back(in);
      return reg[m] = int(loop->code.size()) - 1;
    };
    for (int m : grp.members) {
      const Node& n = g.nodes[size_t(m)];
      if (m == grp.reduction) {
        loop->reduces = true;
        loop->reduce_code = detail::ReduceCode(n.code);
        loop->reduce_reg = operand(n.in[0]);
        loop->reduce_dims = int(n.axes.size());
        loop->reduce_name = n.name;
        continue;
      }
      emit(m);
    }
    // values read outside the group are stored
    std::vector<int> stored;
    for (int m : grp.members) {
      if (m == grp.reduction) continue;
      bool outside = is_output[size_t(m)];
      for (int u : users[size_t(m)]) outside = outside || group_of[size_t(u)] != gid;
      if (outside) {
        loop->stores.push_back({reg[m], g.nodes[size_t(m)].dtype});
        stored.push_back(m);
      }
    }
    if (grp.reduction >= 0) stored.push_back(grp.reduction);
    // an f32 value computed straight into its output, when nothing else writes that register
    loop->store_of.assign(loop->code.size(), -1);
    for (size_t k = 0; k < loop->stores.size(); ++k) {
      const int r = loop->stores[k].reg;
      if (loop->stores[k].dtype == DType::F32 && loop->store_of[size_t(r)] < 0) loop->store_of[size_t(r)] = int(k);
    }
    fused.loop = loop;
    const int fid = out.add(std::move(fused));
    for (size_t k = 0; k < stored.size(); ++k) {
      const Node& m = g.nodes[size_t(stored[k])];
      Node o;
      o.kind = NodeKind::Output;
      o.name = m.name;
      o.in = {fid};
      o.index = int(k);
      o.shape = m.shape;
      o.dtype = m.dtype;
      id[size_t(stored[k])] = out.add(std::move(o));
    }
  }
  for (int i : g.inputs) out.inputs.push_back(id[size_t(i)]);
  for (int o : g.outputs) out.outputs.push_back(id[size_t(o)]);
  return out;
}

}  // namespace xla::compiler
