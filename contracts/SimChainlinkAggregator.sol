// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

/// @title SimChainlinkAggregator
/// @notice The read surface of a Chainlink AggregatorV3 price feed (decimals, description,
/// latestRoundData, getRoundData). Tests and the devnet price simulator set the answer and its
/// `updatedAt` directly, so staleness and deviation can be provoked on purpose.
contract SimChainlinkAggregator {
    uint8 public immutable decimals;
    string public description;
    uint256 public constant version = 4;
    address public immutable owner;

    struct Round {
        int256 answer;
        uint256 startedAt;
        uint256 updatedAt;
    }

    uint80 public latestRound;
    mapping(uint80 => Round) private rounds;

    event AnswerUpdated(int256 indexed current, uint256 indexed roundId, uint256 updatedAt);

    constructor(uint8 _decimals, string memory _description, int256 initialAnswer) {
        decimals = _decimals;
        description = _description;
        owner = msg.sender;
        _record(initialAnswer, block.timestamp);
    }

    /// @notice Publishes a new round. `updatedAt` is explicit so tests can make a feed look stale.
    function setAnswer(int256 answer, uint256 updatedAt) external {
        require(msg.sender == owner, "ONLY_OWNER");
        _record(answer, updatedAt);
    }

    function latestAnswer() external view returns (int256) {
        return rounds[latestRound].answer;
    }

    function latestTimestamp() external view returns (uint256) {
        return rounds[latestRound].updatedAt;
    }

    function latestRoundData()
        external
        view
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
    {
        return getRoundData(latestRound);
    }

    function getRoundData(uint80 _roundId)
        public
        view
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
    {
        Round memory r = rounds[_roundId];
        require(r.updatedAt != 0, "No data present");
        return (_roundId, r.answer, r.startedAt, r.updatedAt, _roundId);
    }

    function _record(int256 answer, uint256 updatedAt) private {
        latestRound += 1;
        rounds[latestRound] = Round(answer, updatedAt, updatedAt);
        emit AnswerUpdated(answer, latestRound, updatedAt);
    }
}
