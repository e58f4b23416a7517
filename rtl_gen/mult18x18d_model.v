// Behavioural model of the Lattice ECP5 MULT18X18D (Lattice's ECP5 sysDSP usage guide) for
// simulating structhw's generated Verilog. Yosys ships the primitive as a black box only.
//
// Modelled: the 18x18 multiply P = A * B with SIGNEDA/SIGNEDB choosing signed or unsigned
// operands (read from the pins; structhw ties them constant); the input registers A and B and
// the output register, each either absent ("NONE") or clocked by CLK0 with clock enable CE0 and
// synchronous reset RST0 (RESETMODE "SYNC").
// Everything else (the C input, the pipeline register, shift chains, CLK1-3/CE1-3/RST1-3,
// MULT_BYPASS, the asynchronous reset mode) stops the simulation at time 0 instead of being
// simulated wrongly. Registers start at 0, as after GSR.
module MULT18X18D (
    input A0, A1, A2, A3, A4, A5, A6, A7, A8, A9, A10, A11, A12, A13, A14, A15, A16, A17,
    input B0, B1, B2, B3, B4, B5, B6, B7, B8, B9, B10, B11, B12, B13, B14, B15, B16, B17,
    input C0, C1, C2, C3, C4, C5, C6, C7, C8, C9, C10, C11, C12, C13, C14, C15, C16, C17,
    input SIGNEDA, SIGNEDB, SOURCEA, SOURCEB,
    input CLK0, CE0, RST0,
    output P0, P1, P2, P3, P4, P5, P6, P7, P8, P9, P10, P11, P12, P13, P14, P15, P16, P17,
    output P18, P19, P20, P21, P22, P23, P24, P25, P26, P27, P28, P29, P30, P31, P32, P33, P34,
    output P35
);
    parameter REG_INPUTA_CLK = "NONE";
    parameter REG_INPUTA_CE = "CE0";
    parameter REG_INPUTA_RST = "RST0";
    parameter REG_INPUTB_CLK = "NONE";
    parameter REG_INPUTB_CE = "CE0";
    parameter REG_INPUTB_RST = "RST0";
    parameter REG_INPUTC_CLK = "NONE";
    parameter REG_PIPELINE_CLK = "NONE";
    parameter REG_OUTPUT_CLK = "NONE";
    parameter REG_OUTPUT_CE = "CE0";
    parameter REG_OUTPUT_RST = "RST0";
    parameter GSR = "ENABLED";
    parameter RESETMODE = "SYNC";
    parameter MULT_BYPASS = "DISABLED";
    parameter SOURCEB_MODE = "B_SHIFT";
    parameter CAS_MATCH_REG = "FALSE";

    localparam A_REG = REG_INPUTA_CLK == "CLK0";
    localparam B_REG = REG_INPUTB_CLK == "CLK0";
    localparam P_REG = REG_OUTPUT_CLK == "CLK0";

    initial begin
        if (!(REG_INPUTA_CLK == "NONE" || (A_REG && REG_INPUTA_CE == "CE0" && REG_INPUTA_RST == "RST0"))
            || !(REG_INPUTB_CLK == "NONE" || (B_REG && REG_INPUTB_CE == "CE0" && REG_INPUTB_RST == "RST0"))
            || !(REG_OUTPUT_CLK == "NONE" || (P_REG && REG_OUTPUT_CE == "CE0" && REG_OUTPUT_RST == "RST0"))
            || REG_INPUTC_CLK != "NONE" || REG_PIPELINE_CLK != "NONE" || RESETMODE != "SYNC"
            || MULT_BYPASS != "DISABLED")
            $fatal(1, "MULT18X18D model: configuration outside the modelled subset");
    end

    wire [17:0] a_in = {A17, A16, A15, A14, A13, A12, A11, A10, A9, A8, A7, A6, A5, A4, A3, A2, A1, A0};
    wire [17:0] b_in = {B17, B16, B15, B14, B13, B12, B11, B10, B9, B8, B7, B6, B5, B4, B3, B2, B1, B0};

    reg [17:0] a_q = 18'd0, b_q = 18'd0;
    reg [35:0] p_q = 36'd0;

    always @(posedge CLK0) begin
        if (RST0) begin
            a_q <= 18'd0;
            b_q <= 18'd0;
        end else if (CE0) begin
            a_q <= a_in;
            b_q <= b_in;
        end
    end

    wire [17:0] a = A_REG ? a_q : a_in;
    wire [17:0] b = B_REG ? b_q : b_in;
    wire signed [18:0] a_ext = {SIGNEDA & a[17], a};
    wire signed [18:0] b_ext = {SIGNEDB & b[17], b};
    wire signed [37:0] product = a_ext * b_ext;

    always @(posedge CLK0) begin
        if (RST0)
            p_q <= 36'd0;
        else if (CE0)
            p_q <= product[35:0];
    end

    wire [35:0] p = P_REG ? p_q : product[35:0];
    assign {P35, P34, P33, P32, P31, P30, P29, P28, P27, P26, P25, P24, P23, P22, P21, P20, P19, P18,
            P17, P16, P15, P14, P13, P12, P11, P10, P9, P8, P7, P6, P5, P4, P3, P2, P1, P0} = p;
endmodule
