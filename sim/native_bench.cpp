// Native Verilator testbench of a stream accelerator (see structhw/sim/native.py).
//
// structhw writes this file into the build folder after two lines naming the Verilated model,
//   #define STRUCTHW_TOP Vstructhw_sim_top
//   #include "Vstructhw_sim_top.h"
// and compiles it with the design under its generated top (structhw/sim/native_build.py), whose
// ports are clk, rst (synchronous, active high, registered once in the top), an input stream
// in_valid/in_ready/in_payload and an output stream out_valid/out_ready/out_payload. An int8
// vector payload has channel 0 in the low byte, so a beat is its bytes in little-endian order.
//
// Usage: structhw_sim --in FILE --images N --beats-in B --in-bytes K --beats-out E --out-bytes L
//          --out DIR [--seed S] [--idle P] [--stall P] [--timing T] [--max-cycles M]
//          [--reset-at C] [--x-seed R] [--vcd FILE]
// FILE holds N·B beats of K bytes. Phase "verify" sends the N images with an idle input cycle
// with probability P (--idle) and an output cycle without ready with probability P (--stall);
// phase "timing" sends the first T images again (cycled), back to back, no idle, no stalls.
// --reset-at C pulses rst for 2 cycles at cycle C of the verify phase, then sends again every
// image whose output had not been received. --x-seed R randomises every variable Verilator
// left without an initial value (build with --x-initial unique) from seed R.
// Writes DIR/<phase>_y.bin (every output beat, L bytes each), DIR/<phase>_cycles.bin (int64
// [images, 2]: the cycle at which the image's first input beat was taken and at which its last
// output beat was taken, counted from 1 at the phase's first cycle) and DIR/summary.txt
// (key value lines). Exit 0 when every phase finished, 3 when one did not within --max-cycles.

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "verilated.h"
#if VM_TRACE
#include "verilated_vcd_c.h"
#endif

namespace {

struct Options {
    std::string in, out, vcd;
    long images = 0, beats_in = 0, in_bytes = 0, beats_out = 1, out_bytes = 0;
    long timing = 0, max_cycles = 1000000000L, reset_at = -1, x_seed = -1;
    uint64_t seed = 0;
    double idle = 0.0, stall = 0.0;
};

[[noreturn]] void die(const std::string& message) {
    std::fprintf(stderr, "structhw_sim: %s\n", message.c_str());
    std::exit(2);
}

Options parse(int argc, char** argv) {
    Options o;
    for (int k = 1; k < argc; ++k) {
        std::string key = argv[k];
        if (key.rfind("+", 0) == 0) continue;  // +verilator+ arguments: the context's
        if (k + 1 >= argc) die("missing value after " + key);
        std::string v = argv[++k];
        if (key == "--in") o.in = v;
        else if (key == "--out") o.out = v;
        else if (key == "--vcd") o.vcd = v;
        else if (key == "--images") o.images = std::stol(v);
        else if (key == "--beats-in") o.beats_in = std::stol(v);
        else if (key == "--in-bytes") o.in_bytes = std::stol(v);
        else if (key == "--beats-out") o.beats_out = std::stol(v);
        else if (key == "--out-bytes") o.out_bytes = std::stol(v);
        else if (key == "--timing") o.timing = std::stol(v);
        else if (key == "--max-cycles") o.max_cycles = std::stol(v);
        else if (key == "--reset-at") o.reset_at = std::stol(v);
        else if (key == "--x-seed") o.x_seed = std::stol(v);
        else if (key == "--seed") o.seed = std::stoull(v);
        else if (key == "--idle") o.idle = std::stod(v);
        else if (key == "--stall") o.stall = std::stod(v);
        else die("unknown option " + key);
    }
    if (o.in.empty() || o.out.empty() || o.images < 1 || o.beats_in < 1 || o.in_bytes < 1
        || o.beats_out < 1 || o.out_bytes < 1)
        die("need --in, --out, --images, --beats-in, --in-bytes, --beats-out, --out-bytes");
    return o;
}

// splitmix64: a seeded stream of coin flips, true with probability p.
struct Coins {
    uint64_t state, threshold;
    bool never;
    Coins(uint64_t seed, double p)
        : state(seed), threshold(static_cast<uint64_t>(p * 18446744073709551616.0)),
          never(p <= 0.0) {}
    bool next() {
        if (never) return false;
        uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        return (z ^ (z >> 31)) < threshold;
    }
};

template <typename T> void put(T& port, const uint8_t* bytes, long n) {
    uint64_t v = 0;
    std::memcpy(&v, bytes, static_cast<size_t>(n));
    port = static_cast<T>(v);
}
template <std::size_t W> void put(VlWide<W>& port, const uint8_t* bytes, long n) {
    EData words[W] = {};
    std::memcpy(words, bytes, static_cast<size_t>(n));
    for (std::size_t k = 0; k < W; ++k) port[k] = words[k];
}
template <typename T> void get(const T& port, uint8_t* bytes, long n) {
    uint64_t v = static_cast<uint64_t>(port);
    std::memcpy(bytes, &v, static_cast<size_t>(n));
}
template <std::size_t W> void get(const VlWide<W>& port, uint8_t* bytes, long n) {
    EData words[W];
    for (std::size_t k = 0; k < W; ++k) words[k] = port[k];
    std::memcpy(bytes, words, static_cast<size_t>(n));
}

struct PhaseResult {
    std::vector<uint8_t> y;
    std::vector<int64_t> cycles;  // [images, 2]: input start, output end
    long cycles_run = 0, resets = 0, received = 0;
    bool finished = false;
};

class Bench {
  public:
    Bench(const Options& o, VerilatedContext* ctx, STRUCTHW_TOP* top) : o_(o), ctx_(ctx), top_(top) {}

    void open_trace() {
#if VM_TRACE
        if (o_.vcd.empty()) return;
        trace_ = std::make_unique<VerilatedVcdC>();
        top_->trace(trace_.get(), 99);
        trace_->open(o_.vcd.c_str());
#endif
    }

    void close_trace() {
#if VM_TRACE
        if (trace_) trace_->close();
#endif
    }

    // One clock cycle: inputs written with the clock low, then the rising edge.
    void edge() {
        top_->clk = 0;
        top_->eval();
        dump();
        top_->clk = 1;
        top_->eval();
        dump();
    }

    // rst for `cycles` rising edges, then one rising edge with rst low, both streams idle.
    void reset(int cycles) {
        top_->in_valid = 0;
        top_->out_ready = 0;
        top_->rst = 1;
        for (int k = 0; k < cycles; ++k) edge();
        top_->rst = 0;
        edge();
    }

    PhaseResult run(const uint8_t* beats, long images, double idle, double stall,
                    uint64_t seed, long reset_at);

  private:
    void dump() {
#if VM_TRACE
        if (trace_) {
            ctx_->timeInc(5);
            trace_->dump(ctx_->time());
        }
#endif
    }

    const Options& o_;
    VerilatedContext* ctx_;
    STRUCTHW_TOP* top_;
#if VM_TRACE
    std::unique_ptr<VerilatedVcdC> trace_;
#endif
};

PhaseResult Bench::run(const uint8_t* beats, long images, double idle, double stall,
                       uint64_t seed, long reset_at) {
    PhaseResult r;
    const long total_in = images * o_.beats_in, total_out = images * o_.beats_out;
    r.y.resize(static_cast<size_t>(total_out * o_.out_bytes));
    r.cycles.assign(static_cast<size_t>(images * 2), -1);
    Coins idle_coins(seed * 2 + 1, idle), stall_coins(seed * 2 + 2, stall);
    long sent = 0, got = 0, cycle = 0;
    bool presenting = false, ready = false;
    while (sent < total_in || got < total_out) {
        if (cycle >= o_.max_cycles) {
            r.cycles_run = cycle;
            r.received = got;
            return r;
        }
        if (cycle == reset_at) {
            reset(2);
            got -= got % o_.beats_out;
            sent = (got / o_.beats_out) * o_.beats_in;
            presenting = ready = false;
            ++r.resets;
        }
        if (!presenting && sent < total_in && !idle_coins.next()) {
            put(top_->in_payload, beats + sent * o_.in_bytes, o_.in_bytes);
            presenting = true;
        }
        top_->in_valid = presenting;
        ready = got < total_out && !stall_coins.next();
        top_->out_ready = ready;
        top_->clk = 0;
        top_->eval();
        dump();
        ++cycle;
        if (presenting && top_->in_ready) {
            if (sent % o_.beats_in == 0) r.cycles[static_cast<size_t>(2 * (sent / o_.beats_in))] = cycle;
            ++sent;
            presenting = false;
        }
        if (ready && top_->out_valid) {
            get(top_->out_payload, &r.y[static_cast<size_t>(got * o_.out_bytes)], o_.out_bytes);
            ++got;
            if (got % o_.beats_out == 0) r.cycles[static_cast<size_t>(2 * (got / o_.beats_out) - 1)] = cycle;
        }
        top_->clk = 1;
        top_->eval();
        dump();
    }
    top_->in_valid = 0;
    top_->out_ready = 0;
    edge();
    r.cycles_run = cycle;
    r.received = got;
    r.finished = true;
    return r;
}

void write_file(const std::string& path, const void* data, size_t bytes) {
    FILE* f = std::fopen(path.c_str(), "wb");
    if (!f || (bytes && std::fwrite(data, 1, bytes, f) != bytes) || std::fclose(f) != 0)
        die("cannot write " + path);
}

std::vector<uint8_t> read_beats(const Options& o) {
    const size_t bytes = static_cast<size_t>(o.images * o.beats_in * o.in_bytes);
    std::vector<uint8_t> data(bytes);
    FILE* f = std::fopen(o.in.c_str(), "rb");
    if (!f) die("cannot read " + o.in);
    size_t n = std::fread(data.data(), 1, bytes, f);
    std::fclose(f);
    if (n != bytes) die(o.in + " holds fewer than images·beats-in·in-bytes bytes");
    return data;
}

void write_phase(const Options& o, const char* name, const PhaseResult& r, FILE* summary) {
    write_file(o.out + "/" + name + "_y.bin", r.y.data(), r.y.size());
    write_file(o.out + "/" + name + "_cycles.bin", r.cycles.data(), r.cycles.size() * sizeof(int64_t));
    std::fprintf(summary, "%s_cycles %ld\n%s_finished %d\n%s_resets %ld\n%s_received %ld\n", name,
                 r.cycles_run, name, r.finished ? 1 : 0, name, r.resets, name, r.received);
}

}  // namespace

int main(int argc, char** argv) {
    const Options o = parse(argc, argv);
    const std::vector<uint8_t> beats = read_beats(o);
    auto ctx = std::make_unique<VerilatedContext>();
    ctx->commandArgs(argc, argv);
    if (o.x_seed >= 0) {
        ctx->randReset(2);
        ctx->randSeed(static_cast<int>(o.x_seed));
    }
#if VM_TRACE
    if (!o.vcd.empty()) ctx->traceEverOn(true);
#endif
    auto top = std::make_unique<STRUCTHW_TOP>(ctx.get(), "");
    Bench bench(o, ctx.get(), top.get());
    bench.open_trace();
    const auto start = std::chrono::steady_clock::now();
    bench.reset(2);
    PhaseResult verify = bench.run(beats.data(), o.images, o.idle, o.stall, o.seed, o.reset_at);
    PhaseResult timing;
    if (verify.finished && o.timing >= 1) {
        std::vector<uint8_t> cycled(static_cast<size_t>(o.timing * o.beats_in * o.in_bytes));
        const size_t image_bytes = static_cast<size_t>(o.beats_in * o.in_bytes);
        for (long k = 0; k < o.timing; ++k)
            std::memcpy(&cycled[k * image_bytes], &beats[(k % o.images) * image_bytes], image_bytes);
        timing = bench.run(cycled.data(), o.timing, 0.0, 0.0, o.seed + 0x5EED, -1);
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    bench.close_trace();
    top->final();
    FILE* summary = std::fopen((o.out + "/summary.txt").c_str(), "w");
    if (!summary) die("cannot write " + o.out + "/summary.txt");
    write_phase(o, "verify", verify, summary);
    if (o.timing >= 1) write_phase(o, "timing", timing, summary);
    std::fprintf(summary, "seconds %.9f\n", seconds);
    std::fclose(summary);
    const bool done = verify.finished && (o.timing < 1 || timing.finished);
    return done ? 0 : 3;
}
