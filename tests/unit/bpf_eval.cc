#include "tests/unit/bpf_eval.h"

#include <cstddef>
#include <cstring>
#include <optional>
#include <string>

namespace declaw::testing {
namespace {

constexpr uint32_t kScratchSlots = BPF_MEMWORDS;

bool isJump(const sock_filter& insn) { return BPF_CLASS(insn.code) == BPF_JMP; }

// The operand of an ALU or conditional jump: the constant k, or the X register.
uint32_t source(const sock_filter& insn, uint32_t x) {
  return BPF_SRC(insn.code) == BPF_X ? x : insn.k;
}

Result<uint32_t> loadWord(const seccomp_data& data, uint32_t offset) {
  // seccomp_check_filter: only 32-bit loads at aligned offsets inside seccomp_data.
  if (offset % 4 != 0 || offset + 4 > sizeof(seccomp_data)) {
    return PlainError() << "load at offset " << offset << " outside seccomp_data";
  }
  uint32_t word;
  std::memcpy(&word, reinterpret_cast<const char*>(&data) + offset, sizeof word);
  return word;
}

// A BPF_ALU instruction's result; none for a division by zero, which ends the program with 0, as
// in the kernel.
std::optional<uint32_t> alu(const sock_filter& insn, uint32_t a, uint32_t x) {
  const uint32_t operand = source(insn, x);
  switch (BPF_OP(insn.code)) {
    case BPF_ADD:
      return a + operand;
    case BPF_SUB:
      return a - operand;
    case BPF_MUL:
      return a * operand;
    case BPF_DIV:
      if (operand == 0) return std::nullopt;
      return a / operand;
    case BPF_AND:
      return a & operand;
    case BPF_OR:
      return a | operand;
    case BPF_XOR:
      return a ^ operand;
    case BPF_LSH:
      return operand >= 32 ? 0 : a << operand;
    case BPF_RSH:
      return operand >= 32 ? 0 : a >> operand;
    case BPF_NEG:
      return 0u - a;
  }
  return a;
}

// Whether a conditional BPF_JMP instruction jumps to jt (else jf).
bool jumpTaken(const sock_filter& insn, uint32_t a, uint32_t x) {
  const uint32_t operand = source(insn, x);
  switch (BPF_OP(insn.code)) {
    case BPF_JEQ:
      return a == operand;
    case BPF_JGT:
      return a > operand;
    case BPF_JGE:
      return a >= operand;
    case BPF_JSET:
      return (a & operand) != 0;
  }
  return false;
}

}  // namespace

std::ostream& operator<<(std::ostream& out, Action action) {
  uint32_t data = action.raw & SECCOMP_RET_DATA;
  switch (action.raw & SECCOMP_RET_ACTION_FULL) {
    case SECCOMP_RET_ALLOW:
      return out << "ALLOW";
    case SECCOMP_RET_KILL_PROCESS:
      return out << "KILL_PROCESS";
    case SECCOMP_RET_KILL_THREAD:
      return out << "KILL_THREAD";
    case SECCOMP_RET_TRAP:
      return out << "TRAP(" << data << ")";
    case SECCOMP_RET_TRACE:
      return out << "TRACE(" << data << ")";
    case SECCOMP_RET_LOG:
      return out << "LOG";
    case SECCOMP_RET_USER_NOTIF:
      return out << "USER_NOTIF";
    case SECCOMP_RET_ERRNO: {
      const char* name = strerrorname_np(static_cast<int>(data));
      return out << "ERRNO(" << (name ? name : std::to_string(data).c_str()) << ")";
    }
  }
  return out << "0x" << std::hex << action.raw << std::dec;
}

std::vector<sock_filter> toInstructions(std::span<const uint8_t> bytes) {
  std::vector<sock_filter> program(bytes.size() / sizeof(sock_filter));
  std::memcpy(program.data(), bytes.data(), program.size() * sizeof(sock_filter));
  return program;
}

Result<void> checkSeccompProgram(std::span<const sock_filter> program) {
  if (program.empty() || program.size() > BPF_MAXINSNS) {
    return PlainError() << "program length " << program.size() << " not in 1.." << BPF_MAXINSNS;
  }
  for (size_t pc = 0; pc < program.size(); ++pc) {
    const sock_filter& insn = program[pc];
    switch (insn.code) {
      case BPF_LD | BPF_W | BPF_ABS:
        if (insn.k % 4 != 0 || insn.k + 4 > sizeof(seccomp_data)) {
          return PlainError() << "pc " << pc << ": load outside seccomp_data";
        }
        break;
      case BPF_LD | BPF_W | BPF_LEN:
      case BPF_LDX | BPF_W | BPF_LEN:
      case BPF_LD | BPF_IMM:
      case BPF_LDX | BPF_IMM:
      case BPF_RET | BPF_K:
      case BPF_RET | BPF_A:
      case BPF_MISC | BPF_TAX:
      case BPF_MISC | BPF_TXA:
      case BPF_ALU | BPF_NEG:
        break;
      case BPF_LD | BPF_MEM:
      case BPF_LDX | BPF_MEM:
      case BPF_ST:
      case BPF_STX:
        if (insn.k >= kScratchSlots) return PlainError() << "pc " << pc << ": bad scratch slot";
        break;
      default:
        if (BPF_CLASS(insn.code) == BPF_ALU) {
          switch (BPF_OP(insn.code)) {
            // seccomp_check_filter has no BPF_MOD.
            case BPF_ADD:
            case BPF_SUB:
            case BPF_MUL:
            case BPF_DIV:
            case BPF_AND:
            case BPF_OR:
            case BPF_XOR:
            case BPF_LSH:
            case BPF_RSH:
              break;
            default:
              return PlainError() << "pc " << pc << ": unsupported ALU op " << insn.code;
          }
          if (BPF_SRC(insn.code) == BPF_K && insn.k == 0 && BPF_OP(insn.code) == BPF_DIV) {
            return PlainError() << "pc " << pc << ": division by constant zero";
          }
          break;
        }
        if (!isJump(insn))
          return PlainError() << "pc " << pc << ": unsupported opcode " << insn.code;
        if (BPF_OP(insn.code) == BPF_JA) {
          if (pc + 1 + insn.k >= program.size()) {
            return PlainError() << "pc " << pc << ": jump out of the program";
          }
          break;
        }
        switch (BPF_OP(insn.code)) {
          case BPF_JEQ:
          case BPF_JGT:
          case BPF_JGE:
          case BPF_JSET:
            break;
          default:
            return PlainError() << "pc " << pc << ": unsupported jump " << insn.code;
        }
        if (pc + 1 + insn.jt >= program.size() || pc + 1 + insn.jf >= program.size()) {
          return PlainError() << "pc " << pc << ": jump out of the program";
        }
    }
  }
  const sock_filter& last = program.back();
  if (BPF_CLASS(last.code) != BPF_RET) return PlainError() << "program does not end in a return";
  return Ok{};
}

Result<uint32_t> evalSeccomp(std::span<const sock_filter> program, const seccomp_data& data) {
  if (auto r = checkSeccompProgram(program); !r) return r.error();
  uint32_t a = 0;
  uint32_t x = 0;
  uint32_t scratch[kScratchSlots] = {};
  // Jumps only go forward (checked above), so this loop ends.
  for (size_t pc = 0; pc < program.size(); ++pc) {
    const sock_filter& insn = program[pc];
    switch (BPF_CLASS(insn.code)) {
      case BPF_LD:
        switch (BPF_MODE(insn.code)) {
          case BPF_ABS: {
            auto word = loadWord(data, insn.k);
            if (!word) return word.error();
            a = *word;
            break;
          }
          case BPF_LEN:
            a = sizeof(seccomp_data);
            break;
          case BPF_IMM:
            a = insn.k;
            break;
          case BPF_MEM:
            a = scratch[insn.k];
            break;
        }
        break;
      case BPF_LDX:
        switch (BPF_MODE(insn.code)) {
          case BPF_LEN:
            x = sizeof(seccomp_data);
            break;
          case BPF_IMM:
            x = insn.k;
            break;
          case BPF_MEM:
            x = scratch[insn.k];
            break;
        }
        break;
      case BPF_ST:
        scratch[insn.k] = a;
        break;
      case BPF_STX:
        scratch[insn.k] = x;
        break;
      case BPF_ALU: {
        auto result = alu(insn, a, x);
        if (!result) return 0u;
        a = *result;
        break;
      }
      case BPF_JMP:
        if (BPF_OP(insn.code) == BPF_JA) {
          pc += insn.k;
        } else {
          pc += jumpTaken(insn, a, x) ? insn.jt : insn.jf;
        }
        break;
      case BPF_RET:
        return BPF_RVAL(insn.code) == BPF_A ? a : insn.k;
      case BPF_MISC:
        if (BPF_MISCOP(insn.code) == BPF_TAX) {
          x = a;
        } else {
          a = x;
        }
        break;
    }
  }
  return PlainError() << "ran off the end of the program";
}

}  // namespace declaw::testing
